import ArgumentParser
import Forge
import Foundation
import Ledger
import Logging
import ServiceLifecycle
import TalosCore
import TalosServer
import TalosStore
import UnixSignals

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run queued executions from the shared database, without serving HTTP.",
        discussion: """
            Any number of workers, on any number of hosts, share one PostgreSQL queue. A worker needs the \
            data directory's database_password and audit_signing_key secrets, and a database role that may \
            only read and update executions and append audit records (README: "Workers"). It never migrates.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Names this worker in leases, its sandboxes and the audit trail (default: worker).")
    var name: String = "worker"

    func run() async throws {
        try await reportingFailures {
            let settings = try await common.settings()
            guard name.range(of: "^[a-z0-9-]{1,32}$", options: .regularExpression) != nil else {
                throw ValidationError("--name must be 1–32 lower-case letters, digits or dashes")
            }
            let logger = makeLogger(level: settings.logLevel)
            // A worker host's data directory holds its audit file copy and the two secrets.
            _ = try DataDirectory.prepare(path: settings.dataDirectory, secretsPath: settings.secretsDirectory)
            let context = try MaintenanceContext.open(settings: settings, logger: logger)
            do {
                guard try await Migrator(database: context.database, logger: logger).isCurrent() else {
                    throw ValidationError("the database schema is not this build's; run `talos migrate` first")
                }
                let node = try context.dataDirectory.nodeID()
                let audit = try context.auditLog(logger: logger)
                let engine = try ForgeRuntime.makeEngine(settings: settings, node: node, role: name, audit: audit, logger: logger)
                let pool = ForgeRuntime.makePool(
                    settings: settings, database: context.database, engine: engine, audit: audit, signals: ExecutionSignals(),
                    name: "\(name)-\(node)", logger: logger
                )
                FileHandleOutput.standardOutput("Talos worker \(pool.name) is taking jobs (\(settings.sandboxConcurrency) at once).\n")
                let group = ServiceGroup(
                    services: [ForgeService(pool: pool, engine: engine, execution: nil, logger: logger)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
                )
                try await group.run()
            } catch {
                await context.close()
                throw error
            }
            await context.close()
        }
    }
}
