import ArgumentParser
import Foundation
import Ledger
import Logging
import TalosServer

/// Options shared by every command that reads the data directory.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (default ./talos-data, or data_dir from the configuration).")
    var dataDir: String?

    @Option(name: .long, help: "JSON configuration file; TALOS_* environment variables override it.")
    var config: String?

    /// Settings from file and environment, the command line winning.
    func settings() async throws -> ServerSettings {
        var settings = try await ServerSettings.load(
            configFile: config, environment: ProcessInfo.processInfo.environment
        )
        if let dataDir { settings.dataDirectory = dataDir }
        return settings
    }
}

/// Runs `body`, turning the errors an operator can fix into one clear line
/// on standard error and exit status 1 instead of a stack of internals.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandleOutput.standardError("talos: \(error)\n")
        throw ExitCode.failure
    }
}

enum FileHandleOutput {
    static func standardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func standardOutput(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

func makeLogger(level: String) -> Logger {
    JSONLogHandler.bootstrap(level: Logger.Level(rawValue: level) ?? .info)
    return Logger(label: "talos")
}
