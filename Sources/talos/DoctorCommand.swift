import ArgumentParser
import TalosServer

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check TLS, the database and this host's sandboxing (crun, cgroups, namespaces, seccomp, Landlock)."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await reportingFailures {
            let settings = try await common.settings()
            let logger = makeLogger(level: "error")
            let checks = await Doctor(settings: settings, logger: logger).run()
            for check in checks { FileHandleOutput.standardOutput(check.line + "\n") }
            if checks.contains(where: { $0.level == .fail }) {
                FileHandleOutput.standardOutput("doctor: something Talos needs is missing; see FAIL lines above\n")
                throw ExitCode.failure
            }
        }
    }
}
