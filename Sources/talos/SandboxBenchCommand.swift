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

    @Option(help: "Boxes created ahead per language for the pooled figures.")
    var pool = 8

    func validate() throws {
        guard runs >= 1, pool >= 0, pool <= 16, !concurrency.isEmpty, concurrency.allSatisfy({ (1...256).contains($0) }) else {
            throw ValidationError("--runs must be at least 1, --pool 0–16, each --concurrency 1–256")
        }
    }

    func run() async throws {
        try await reportingFailures {
            let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
            let unique = "bench-\(ProcessInfo.processInfo.processIdentifier)"
            let work = "/run/talos/\(unique)-files"
            let engines = EngineList()
            defer {
                engines.closeAll()
                try? FileManager.default.removeItem(atPath: work)
            }
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            // Each engine its own state and work directories: an engine
            // reaps whatever else it finds in them.
            func engine(_ slots: Int, pool: Int) throws -> SandboxEngine {
                let id = "\(unique)-\(engines.count)"
                var configuration = SandboxConfiguration(
                    stateDirectory: "/run/talos/\(id)", workDirectory: "/run/talos/\(id)-work", engineID: id, maximumConcurrentRuns: slots
                )
                configuration.poolSize = pool
                let engine = try SandboxEngine(configuration: configuration, catalog: try RuntimeCatalog.builtIn(), audit: nil, logger: logger)
                engines.add(engine)
                return engine
            }
            let python = ExecutionRequest(language: "python", files: [try SourceFile(name: "main.py", text: "pass\n")])
            let goSource = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"
            let go = ExecutionRequest(language: "go", files: [try SourceFile(name: "main.go", text: goSource)])
            try goSource.write(toFile: work + "/hello.go", atomically: true, encoding: .utf8)
            let goCache = work + "/gocache"
            let barePython: @Sendable () throws -> Double = { try Self.bare(["/usr/bin/python3", "-c", "pass"]) }
            let bareGo: @Sendable () throws -> Double = {
                try? FileManager.default.removeItem(atPath: goCache)
                let build = try Self.bare(
                    ["/usr/lib/go-1.19/bin/go", "build", "-o", work + "/hello", work + "/hello.go"],
                    environment: ["GOCACHE=" + goCache, "HOME=" + work, "CGO_ENABLED=0", "GO111MODULE=off", "PATH=/usr/bin:/bin"]
                )
                return build + (try Self.bare([work + "/hello"]))
            }
            let goRuns = max(5, runs / 3)

            print("per-run wall time, median of \(runs) sequential runs (go: \(goRuns))")
            let fresh = try engine(1, pool: 0)
            let pooled = try engine(1, pool: pool)
            for (name, request, bareRun, count) in [
                ("python pass", python, barePython, runs), ("go hello (build + run)", go, bareGo, goRuns),
            ] {
                let bareTime = try median(count, bareRun)
                let freshTime = try await medianAsync(count, engine: fresh, settle: false) { try await fresh.execute(request) }
                // A pooled box is ready when the job comes: the figure a job
                // sees when jobs do not arrive faster than boxes are made.
                _ = try await pooled.execute(request)
                let pooledTime = try await medianAsync(count, engine: pooled, settle: true) { try await pooled.execute(request) }
                report(name + ", box made on demand", bare: bareTime, boxed: freshTime)
                report(name + ", pooled box", bare: bareTime, boxed: pooledTime)
            }

            for (name, request, bareRun, total) in [("python pass", python, barePython, runs * 2), ("go hello (build + run)", go, bareGo, goRuns * 2)] {
                print("\nthroughput, \(name), \(total) runs per level, pool of \(pool)")
                for level in concurrency {
                    let bareRate = try await throughput(total: total, concurrency: level) { _ = try bareRun() }
                    let parallel = try engine(level, pool: pool)
                    let boxedRate = try await throughput(total: total, concurrency: level) {
                        let result = try await parallel.execute(request)
                        guard result.verdict == .ok else { throw ValidationError("a benchmark run ended \(result.verdict.name)") }
                    }
                    print(
                        String(
                            format: "  concurrency %2d: talos %7.1f runs/s   bare %7.1f runs/s   ratio %.3f", level, boxedRate, bareRate,
                            boxedRate / bareRate
                        )
                    )
                }
            }
        }
    }

    private func report(_ name: String, bare: Double, boxed: Double) {
        print(String(format: "  %-24@ talos %8.1f ms   bare %8.1f ms   ratio %.2f", name as NSString, boxed, bare, boxed / bare))
    }

    private static func bare(_ argv: [String], environment: [String] = ["PATH=/usr/bin:/bin"]) throws -> Double {
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

    private func medianAsync(_ count: Int, engine: SandboxEngine, settle: Bool, _ body: () async throws -> ExecutionResult) async throws -> Double {
        var samples: [Double] = []
        for _ in 0..<count {
            if settle { await engine.settled() }
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

    var count: Int { engines.count }

    func closeAll() {
        engines.forEach { engine in
            engine.close()
            try? FileManager.default.removeItem(atPath: engine.configuration.workDirectory)
            try? FileManager.default.removeItem(atPath: engine.configuration.stateDirectory)
        }
    }
}
