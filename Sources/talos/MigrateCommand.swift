import ArgumentParser
import TalosServer
import TalosStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations (serve also does this at start)."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await reportingFailures {
            let settings = try await common.settings()
            let logger = makeLogger(level: settings.logLevel)
            let context = try MaintenanceContext.open(settings: settings, logger: logger)
            do {
                let applied = try await Migrator(database: context.database, logger: logger).migrate()
                FileHandleOutput.standardOutput(
                    applied.isEmpty ? "schema is current\n" : "applied migrations \(applied.map(String.init).joined(separator: ", "))\n"
                )
            } catch {
                await context.close()
                throw error
            }
            await context.close()
        }
    }
}
