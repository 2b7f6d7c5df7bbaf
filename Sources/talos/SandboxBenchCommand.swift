import ArgumentParser
import Forge
import Foundation
import Logging

/// Measures the engine against the same programs run bare on the host;
/// driven by `bench/sandbox`.
struct SandboxBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-sandbox",
        abstract: "Benchmark the sandbox engine against bare processes (used by bench/sandbox).",
        shouldDisplay: false
    )

    @Option(help: "Sequential runs per latency figure.")
    var runs = 30

    @Option(help: "Concurrency levels for the throughput figures.")
    var concurrency: [Int] = [2, 8, 32]

    func run() async throws {
        try await reportingFailures {
            let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
            let unique = "bench-\(ProcessInfo.processInfo.processIdentifier)"
            let work = "/run/talos/\(unique)-work"
            defer {
                try? FileManager.default.removeItem(atPath: work)
                try? FileManager.default.removeItem(atPath: "/run/talos/\(unique)")
            }
            let engines = EngineList()
            defer { engines.closeAll() }
            func engine(_ slots: Int) throws -> SandboxEngine {
                let engine = try SandboxEngine(
                    configuration: SandboxConfiguration(
                        stateDirectory: "/run/talos/\(unique)", workDirectory: work, engineID: unique, maximumConcurrentRuns: slots
                    ),
                    catalog: try RuntimeCatalog.builtIn(), audit: nil, logger: logger
                )
                engines.add(engine)
                return engine
            }
            let sequential = try engine(1)
            let python = ExecutionRequest(language: "python", files: [try SourceFile(name: "main.py", text: "pass\n")])
            let goSource = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"
            let go = ExecutionRequest(language: "go", files: [try SourceFile(name: "main.go", text: goSource)])
            try goSource.write(toFile: work + "/hello.go", atomically: true, encoding: .utf8)

            print("per-run wall time, median of \(runs) sequential runs")
            let barePython = try median(runs) { try bare(["/usr/bin/python3", "-c", "pass"]) }
            let boxedPython = try await medianAsync(runs) { try await sequential.execute(python) }
            report("python pass", bare: barePython, boxed: boxedPython)
            let goCache = work + "/gocache"
            let bareGo = try median(max(5, runs / 3)) {
                try? FileManager.default.removeItem(atPath: goCache)
                let build = try bare(
                    ["/usr/lib/go-1.19/bin/go", "build", "-o", work + "/hello", work + "/hello.go"],
                    environment: ["GOCACHE=" + goCache, "HOME=" + work, "CGO_ENABLED=0", "GO111MODULE=off", "PATH=/usr/bin:/bin"]
                )
                return build + (try bare([work + "/hello"]))
            }
            let boxedGo = try await medianAsync(max(5, runs / 3)) { try await sequential.execute(go) }
            report("go hello (build + run)", bare: bareGo, boxed: boxedGo)

            print("\nthroughput, python pass, \(runs * 2) runs per level")
            for level in concurrency {
                let total = runs * 2
                let bareRate = try await throughput(total: total, concurrency: level) { _ = try bare(["/usr/bin/python3", "-c", "pass"]) }
                let parallel = try engine(level)
                let boxedRate = try await throughput(total: total, concurrency: level) { _ = try await parallel.execute(python) }
                print(
                    String(format: "  concurrency %2d: talos %7.1f runs/s   bare %7.1f runs/s   ratio %.3f", level, boxedRate, bareRate, boxedRate / bareRate)
                )
            }
        }
    }

    private func report(_ name: String, bare: Double, boxed: Double) {
        print(String(format: "  %-24@ talos %8.1f ms   bare %8.1f ms   ratio %.2f", name as NSString, boxed, bare, boxed / bare))
    }

    private func bare(_ argv: [String], environment: [String] = ["PATH=/usr/bin:/bin"]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.environment = Dictionary(uniqueKeysWithValues: environment.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), String(parts[1]))
        })
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let start = DispatchTime.now().uptimeNanoseconds
        try process.run()
        process.waitUntilExit()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    private func median(_ count: Int, _ body: () throws -> Double) throws -> Double {
        var samples: [Double] = []
        for _ in 0..<count { samples.append(try body()) }
        return samples.sorted()[samples.count / 2]
    }

    private func medianAsync(_ count: Int, _ body: () async throws -> ExecutionResult) async throws -> Double {
        var samples: [Double] = []
        for _ in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            let result = try await body()
            guard result.verdict == .ok else { throw ValidationError("a benchmark run ended \(result.verdict.name)") }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return samples.sorted()[samples.count / 2]
    }

    private func throughput(total: Int, concurrency: Int, _ body: @escaping @Sendable () async throws -> Void) async throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var index = worker
                    while index < total {
                        try await body()
                        index += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(total) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}

/// The engines a benchmark made, closed together at the end.
final class EngineList: @unchecked Sendable {
    private var engines: [SandboxEngine] = []

    func add(_ engine: SandboxEngine) {
        engines.append(engine)
    }

    func closeAll() {
        engines.forEach { $0.close() }
    }
}
