import ArgumentParser
import Forge
import Foundation
import Logging
import TalosServer

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one program in a sandbox through the Forge engine and print the result as JSON.",
        discussion: "Exits 0 when the sandbox worked, whatever the program's verdict; 1 when the sandbox itself failed."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "python, javascript, go or rust.")
    var language: String

    @Argument(help: "Source file(s); the first is the entry point.")
    var files: [String]

    @Option(help: "File whose contents are the program's standard input.")
    var stdin: String?

    @Option(name: .customLong("arg"), help: "An argument for the program (repeatable).")
    var arguments: [String] = []

    @Option(help: "Memory limit in MiB.")
    var memoryMib: Int?

    @Option(help: "CPU time limit in milliseconds.")
    var cpuMs: Int?

    @Option(help: "Wall-clock limit in milliseconds.")
    var wallMs: Int?

    @Option(help: ArgumentHelp("crun state directory; orphans found there are reaped first.", visibility: .hidden))
    var stateDirectory: String?

    @Option(help: ArgumentHelp("Directory for bundles.", visibility: .hidden))
    var workDirectory: String?

    func run() async throws {
        try await reportingFailures {
            let settings = try await common.settings()
            let logger = makeLogger(level: "warning")
            let sources = try files.map { path in
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ValidationError("cannot read \(path)")
                }
                return try SourceFile(name: (path as NSString).lastPathComponent, content: Array(data))
            }
            let input = try stdin.map { path -> [UInt8] in
                guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
                return Array(data)
            } ?? []
            let unique = "run-\(ProcessInfo.processInfo.processIdentifier)"
            let state = stateDirectory ?? "/run/talos/\(unique)"
            let work = workDirectory ?? "/run/talos/\(unique)-work"
            let engine = try SandboxEngine(
                configuration: SandboxConfiguration(
                    stateDirectory: state, workDirectory: work,
                    engineID: stateDirectory.map { ($0 as NSString).lastPathComponent } ?? unique, maximumConcurrentRuns: 1,
                    policy: settings.sandboxPolicy
                ),
                catalog: try settings.runtimesFile.map(RuntimeCatalog.load(path:)) ?? RuntimeCatalog.builtIn(), audit: nil, logger: logger
            )
            defer {
                engine.close()
                if workDirectory == nil { try? FileManager.default.removeItem(atPath: work) }
                if stateDirectory == nil { try? FileManager.default.removeItem(atPath: state) }
            }
            let result = try await engine.execute(
                ExecutionRequest(
                    language: language, files: sources, stdin: input, arguments: arguments,
                    limits: LimitRequest(memoryMiB: memoryMib, cpuMilliseconds: cpuMs, wallMilliseconds: wallMs)
                )
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandleOutput.standardOutput(String(decoding: try encoder.encode(result), as: UTF8.self) + "\n")
            for stage in [result.compile, result.run].compactMap({ $0 }) {
                if !stage.refusedSyscalls.isEmpty {
                    let calls = stage.refusedSyscalls.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
                    FileHandleOutput.standardError("seccomp refused in the \(stage.stage) box: \(calls.joined(separator: " "))\n")
                }
                if let failure = stage.setupFailure {
                    FileHandleOutput.standardError("the sandbox could not set up the \(stage.stage) box: \(failure)\n")
                }
            }
            if result.verdict == .internalError { throw ExitCode.failure }
        }
    }
}
