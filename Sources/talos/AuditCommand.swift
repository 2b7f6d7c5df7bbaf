import ArgumentParser
import Ledger
import TalosCore
import TalosServer
import TalosStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify or export the audit trail.",
        subcommands: [Verify.self, Export.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the database chain, its signed checkpoints and the audit file; exit 1 naming the first bad record."
        )

        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await reportingFailures {
                let settings = try await common.settings()
                let logger = makeLogger(level: "error")
                let context = try MaintenanceContext.open(settings: settings, logger: logger)
                let report: AuditVerifier.Report
                do {
                    report = try await context.verifyAudit()
                } catch {
                    await context.close()
                    throw error
                }
                await context.close()
                if let first = report.firstFinding {
                    FileHandleOutput.standardOutput(
                        "audit trail TAMPERED: \(first)\n"
                            + (report.findings.count > 1 ? "(\(report.findings.count - 1) further findings)\n" : "")
                    )
                    throw ExitCode.failure
                }
                FileHandleOutput.standardOutput(
                    "audit trail intact: \(report.records) records, \(report.checkpoints) signed checkpoints, "
                        + "\(report.fileLines) lines in the audit file\n"
                )
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit records as JSON Lines.")

        @OptionGroup var common: CommonOptions

        @Option(help: "Only records at or after this RFC 3339 time, e.g. 2026-11-01T00:00:00Z.")
        var since: String?

        func run() async throws {
            try await reportingFailures {
                var sinceTime: String?
                if let since {
                    guard let date = Timestamp.parse(since) else {
                        throw ValidationError("--since must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
                    }
                    sinceTime = Timestamp.string(from: date)
                }
                let settings = try await common.settings()
                let logger = makeLogger(level: "error")
                let context = try MaintenanceContext.open(settings: settings, logger: logger)
                let repository = SQLAuditRepository(database: context.database)
                var after: Int64 = 0
                do {
                    while true {
                        let page =
                            if let sinceTime {
                                try await repository.records(since: sinceTime, afterSeq: after, limit: 1000)
                            } else {
                                try await repository.records(afterSeq: after, limit: 1000)
                            }
                        guard let last = page.last else { break }
                        var text = ""
                        for record in page { text += String(decoding: try AuditSeal.line(for: record), as: UTF8.self) }
                        FileHandleOutput.standardOutput(text)
                        after = last.seq
                    }
                } catch {
                    await context.close()
                    throw error
                }
                await context.close()
            }
        }
    }
}
