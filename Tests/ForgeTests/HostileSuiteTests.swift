@testable import Forge
import Crypto
import CSystemShims
import Foundation
import Ledger
import Logging
import TalosCore
import TalosStore
import TalosTestSupport
import Testing

/// One case of the corpus in `Hostile/cases.json`.
struct HostileCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Expectation: Decodable, Sendable {
        var verdict: String
        var limit: String?
        var stage: String?
        var exitCode: Int32?
        var signal: Int32?
        var stdout: String?
        var stdoutContains: String?
        var stdoutTruncated: Bool?
        /// System calls the seccomp agent must have refused and counted.
        var refused: [String]?

        enum CodingKeys: String, CodingKey {
            case verdict, limit, stage, signal, stdout, refused
            case exitCode = "exit_code"
            case stdoutContains = "stdout_contains"
            case stdoutTruncated = "stdout_truncated"
        }
    }

    var name: String
    var language: String
    var files: [String]
    var stdin: String?
    var args: [String]?
    /// Run-stage limits, and `compile_*` keys for the compile stage.
    var limits: [String: Int]?
    var expect: Expectation
    var hostChecks: [String]?
    var why: String?
    var skipReason: String?

    enum CodingKeys: String, CodingKey {
        case name, language, files, stdin, args, limits, expect, why
        case hostChecks = "host_checks"
        case skipReason = "skip_reason"
    }

    var testDescription: String { name }

    static let all: [HostileCase] = {
        let path = TestSandbox.hostileDirectory + "/cases.json"
        guard let data = FileManager.default.contents(atPath: path),
            let cases = try? JSONDecoder().decode([HostileCase].self, from: data)
        else { return [] }
        // TALOS_HOSTILE_CASES (languages or case names, comma-separated)
        // picks a part of the corpus, e.g. for the cgroup v2 VM.
        let picked = Set((ProcessInfo.processInfo.environment["TALOS_HOSTILE_CASES"] ?? "").split(separator: ",").map(String.init))
        return cases.filter { $0.skipReason == nil && (picked.isEmpty || picked.contains($0.name) || picked.contains($0.language)) }
    }()

    /// Whether only a part of the corpus was picked.
    static var isPartial: Bool { !(ProcessInfo.processInfo.environment["TALOS_HOSTILE_CASES"] ?? "").isEmpty }

    func request() throws -> ExecutionRequest {
        let sources = try files.map { relative in
            let data = try Data(contentsOf: URL(fileURLWithPath: TestSandbox.hostileDirectory + "/" + relative))
            return try SourceFile(name: (relative as NSString).lastPathComponent, content: Array(data))
        }
        var runLimits = Self.limitRequest(limits ?? [:], prefix: "")
        // Under emulation a case about anything but time gets more of it:
        // a V8 heap filled under a ~45x slower CPU outlasts the default.
        if TestSandbox.isEmulated, expect.verdict != "time_limit_exceeded" {
            runLimits.cpuMilliseconds = runLimits.cpuMilliseconds ?? TestSandbox.emulatedCompileMilliseconds / 2
            runLimits.wallMilliseconds = runLimits.wallMilliseconds ?? TestSandbox.emulatedCompileMilliseconds
        }
        return ExecutionRequest(
            language: language, files: sources, stdin: Array((stdin ?? "").utf8), arguments: args ?? [],
            limits: runLimits, compileLimits: Self.compileLimits(limits ?? [:])
        )
    }

    /// Under emulation (the cgroup v2 VM, ~45x slower) a compiler gets
    /// more CPU and wall time, unless the case is about those limits.
    static func compileLimits(_ values: [String: Int]) -> LimitRequest {
        var request = limitRequest(values, prefix: "compile_")
        if TestSandbox.isEmulated {
            request.cpuMilliseconds = request.cpuMilliseconds ?? TestSandbox.emulatedCompileMilliseconds
            request.wallMilliseconds = request.wallMilliseconds ?? TestSandbox.emulatedCompileMilliseconds * 2
        }
        return request
    }

    static func limitRequest(_ values: [String: Int], prefix: String) -> LimitRequest {
        LimitRequest(
            memoryMiB: values[prefix + "memory_mib"], pids: values[prefix + "pids"], cpuMilliseconds: values[prefix + "cpu_ms"],
            wallMilliseconds: values[prefix + "wall_ms"], outputBytes: values[prefix + "output_bytes"],
            tmpfsMiB: values[prefix + "tmpfs_mib"], openFiles: values[prefix + "open_files"]
        )
    }
}

/// The sandbox suites share the machine's two cores; they run one case at a
/// time so limits, timings and host checks mean what they say.
@Suite("Forge sandbox", .serialized)
struct ForgeSandboxTests {
    @Test("the corpus is present and covers every language", .enabled(if: !HostileCase.isPartial))
    func corpus() {
        #expect(HostileCase.all.count >= 40)
        #expect(Set(HostileCase.all.map(\.language)) == ["python", "javascript", "go", "rust", "c", "cpp"])
    }

    @Test("each case gets exactly its verdict and the host is untouched", arguments: HostileCase.all)
    func hostile(_ testCase: HostileCase) async throws {
        let engine = try TestSandbox.sharedEngine()
        let watched = (testCase.hostChecks ?? []).compactMap { check -> (String, Data?)? in
            guard check.hasPrefix("host_file_unchanged:") else { return nil }
            let path = String(check.dropFirst("host_file_unchanged:".count))
            return (path, FileManager.default.contents(atPath: path))
        }
        let result = try await engine.execute(try testCase.request())
        let stage = testCase.expect.stage == "compile" ? result.compile : (result.run ?? result.compile)
        let outcome = try #require(stage, "\(testCase.name): no stage ran")
        let summary = "\(testCase.name): \(outcome.verdict.name) exit \(outcome.exitCode.map(String.init) ?? "-") signal \(outcome.signal.map(String.init) ?? "-") stderr \(outcome.stderr.suffix(300))"

        #expect(result.verdict.name == testCase.expect.verdict, "\(summary)")
        #expect(outcome.verdict.name == testCase.expect.verdict, "\(summary)")
        if let limit = testCase.expect.limit { #expect(outcome.timeLimit?.rawValue == limit, "\(summary)") }
        if let code = testCase.expect.exitCode {
            if code > 128, code < 160 {
                #expect(outcome.signal == code - 128, "\(summary)")
            } else {
                #expect(outcome.exitCode == code, "\(summary)")
            }
        }
        if let signal = testCase.expect.signal { #expect(outcome.signal == signal, "\(summary)") }
        if let stdout = testCase.expect.stdout { #expect(outcome.stdout == stdout, "\(summary)") }
        if let fragment = testCase.expect.stdoutContains { #expect(outcome.stdout.contains(fragment), "\(summary)") }
        if let truncated = testCase.expect.stdoutTruncated { #expect(outcome.stdoutTruncated == truncated, "\(summary)") }
        #expect(!outcome.stdout.contains("ESCAPED"), "\(summary)")
        for call in testCase.expect.refused ?? [] {
            #expect((outcome.refusedSyscalls[call] ?? 0) >= 1, "\(testCase.name): \(call) refused and counted: \(outcome.refusedSyscalls)")
        }
        #expect(outcome.peakMemoryBytes <= UInt64(SandboxLimits.defaultMaxima.memoryMiB) * 1024 * 1024)

        // Nothing survives a run.
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty, "\(testCase.name): \(TestSandbox.leftovers(of: engine))")
        #expect(TestSandbox.boxProcesses().isEmpty, "\(testCase.name): processes left \(TestSandbox.boxProcesses())")
        for (path, before) in watched {
            #expect(FileManager.default.contents(atPath: path) == before, "\(testCase.name) changed \(path)")
        }
    }

    @Test("50 concurrent runs all finish with their limits held")
    func fiftyConcurrent() async throws {
        let engine = try TestSandbox.engine(id: "fifty", concurrency: 50)
        let echo = try SourceFile(name: "main.py", text: "import sys\nprint(sys.stdin.read().upper())\n")
        let bomb = try SourceFile(name: "main.py", text: "blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))\n")
        let results = try await withThrowingTaskGroup(of: (Int, ExecutionResult).self) { group in
            for index in 0..<50 {
                group.addTask {
                    let isBomb = index % 10 == 0
                    let request = ExecutionRequest(
                        language: "python", files: [isBomb ? bomb : echo], stdin: Array("run \(index)".utf8),
                        limits: LimitRequest(memoryMiB: 64, wallMilliseconds: 60_000)
                    )
                    return (index, try await engine.execute(request))
                }
            }
            var results: [Int: ExecutionResult] = [:]
            for try await (index, result) in group { results[index] = result }
            return results
        }
        #expect(results.count == 50)
        for (index, result) in results {
            let run = try #require(result.run)
            #expect(run.peakMemoryBytes <= 64 * 1024 * 1024, "run \(index) held its memory limit")
            if index % 10 == 0 {
                #expect(result.verdict == .memoryLimitExceeded, "run \(index): \(run.verdict.name) \(run.stderr.suffix(200))")
            } else {
                #expect(result.verdict == .ok, "run \(index): \(run.verdict.name) \(run.stderr.suffix(200))")
                #expect(run.stdout == "RUN \(index)\n")
            }
        }
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty)
        #expect(TestSandbox.boxProcesses().isEmpty)
    }

    @Test("boxes that run side by side are different host users; one box's files are not another's")
    func distinctUsers() async throws {
        let engine = try TestSandbox.engine(id: "users", concurrency: 2)
        // Each box writes a file and waits; while both live, the host sees two uids.
        let sleeper = try SourceFile(name: "main.py", text: "import time, os\nopen('/tmp/mine', 'w').write('x')\ntime.sleep(3)\nprint(os.getuid())\n")
        async let first = engine.execute(ExecutionRequest(language: "python", files: [sleeper], stdin: [], limits: LimitRequest(wallMilliseconds: 60_000)))
        async let second = engine.execute(ExecutionRequest(language: "python", files: [sleeper], stdin: [], limits: LimitRequest(wallMilliseconds: 60_000)))
        var uids = Set<Int>()
        for _ in 0..<600 where uids.count < 2 {
            // Only this engine's boxes: other suites run boxes at the same time.
            for pid in TestSandbox.boxProcesses()
            where (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8))?.contains("/talos/test-users/") == true {
                if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
                    let uid = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ Int($0) }),
                    // Only the box's own user: crun's setup runs briefly as the range's root.
                    (uid - BoxBundle.firstHostID) % BoxBundle.idRangeSize == BoxBundle.boxUser
                {
                    uids.insert(uid)
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let results = try await [first, second]
        #expect(results.allSatisfy { $0.verdict == .ok && $0.run?.stdout == "65534\n" }, "inside, both are the same unprivileged user")
        #expect(uids.count == 2, "two concurrent boxes, two host users: \(uids)")
        #expect(Set(uids.map { ($0 - BoxBundle.firstHostID) / BoxBundle.idRangeSize }).count == 2, "in separate ranges")
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty)
    }

    @Test("a box left running by a killed engine is reaped at the next start")
    func orphansReaped() async throws {
        let state = TestSandbox.root + "/state-orphan"
        let work = TestSandbox.root + "/work-orphan"
        let directory = TestSandbox.root + "/orphan-src"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // It writes nothing: a write to the killed engine's pipe would end it
        // with SIGPIPE before the restarted engine could reap it.
        try "import time\ntime.sleep(120)\n".write(toFile: directory + "/main.py", atomically: true, encoding: .utf8)
        let talos = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/talos").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: talos)
        process.arguments = [
            "run", "--language", "python", directory + "/main.py", "--wall-ms", "60000",
            "--state-directory", state, "--work-directory", work,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        // This test process is itself a sandbox engine (a subreaper) when
        // other tests ran first, and would adopt the orphaned box. A killed
        // `talos serve` leaves its boxes to init instead, so play that.
        _ = talos_clear_child_subreaper()
        defer { _ = talos_set_child_subreaper() }
        try process.run()
        // Wait for the box to be up, then kill the engine outright.
        var running = false
        for _ in 0..<100 where !running {
            try await Task.sleep(for: .milliseconds(100))
            running = TestSandbox.boxProcesses().contains { pid in
                let commandLine = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                let cgroup = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
                return commandLine.contains("main.py") && !commandLine.contains("tini") && cgroup.contains("/talos/state-orphan/")
            }
        }
        #expect(running, "the box started")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try await Task.sleep(for: .milliseconds(300))
        #expect(!TestSandbox.boxProcesses().isEmpty, "killing the engine leaves its box running: that is what reaping is for")

        let restarted = try SandboxEngine(
            configuration: SandboxConfiguration(stateDirectory: state, workDirectory: work, engineID: "state-orphan"),
            catalog: try RuntimeCatalog.builtIn(), audit: nil, logger: .init(label: "test")
        )
        try await Task.sleep(for: .milliseconds(300))
        #expect(TestSandbox.boxProcesses().isEmpty, "the restarted engine killed the orphan")
        await restarted.settled()
        #expect(TestSandbox.leftovers(of: restarted).isEmpty, "\(TestSandbox.leftovers(of: restarted))")
    }

    @Test("requests the engine must refuse before any box exists")
    func refusals() async throws {
        let engine = try TestSandbox.sharedEngine()
        let hello = try SourceFile(name: "main.py", text: "print(1)")
        await #expect(throws: ForgeError.unknownLanguage) {
            _ = try await engine.execute(ExecutionRequest(language: "cobol", files: [hello]))
        }
        await #expect(throws: ForgeError.limitAboveMaximum) {
            _ = try await engine.execute(ExecutionRequest(language: "python", files: [hello], limits: LimitRequest(memoryMiB: 1 << 20)))
        }
        await #expect(throws: ForgeError.invalidFiles) {
            _ = try await engine.execute(ExecutionRequest(language: "python", files: [hello, hello]))
        }
        for name in ["../escape.py", "/etc/passwd", ".hidden", "a/b.py", "", String(repeating: "x", count: 101)] {
            #expect(throws: ForgeError.invalidFiles, "\(name)") { try SourceFile(name: name, text: "x") }
        }
    }

    @Test("limit hits and sandbox failures are audited; a broken sandbox is internal_error, never a program verdict")
    func securityEvents() async throws {
        try await TestDatabase.with(.sqlite) { test in
            try await Migrator(database: test.database, logger: TestDatabase.logger).migrate()
            let audit = AuditLog(
                repository: SQLAuditRepository(database: test.database), node: "forge-test",
                signer: CheckpointSigner(key: Curve25519.Signing.PrivateKey()), sink: nil, logger: TestDatabase.logger
            )
            var catalog = try RuntimeCatalog.builtIn()
            let engine = try SandboxEngine(
                configuration: SandboxConfiguration(
                    stateDirectory: TestSandbox.root + "/state-events", workDirectory: TestSandbox.root + "/work-events",
                    engineID: "test-events"
                ),
                catalog: catalog, audit: audit, logger: .init(label: "test")
            )
            let bomb = try SourceFile(name: "main.py", text: "b = []\nwhile True:\n    b.append(bytearray(8 << 20))\n")
            let sleeper = try SourceFile(name: "main.py", text: "import time\ntime.sleep(30)\n")
            #expect(try await engine.execute(ExecutionRequest(language: "python", files: [bomb], limits: LimitRequest(memoryMiB: 64))).verdict == .memoryLimitExceeded)
            #expect(try await engine.execute(ExecutionRequest(language: "python", files: [sleeper], limits: LimitRequest(wallMilliseconds: 500))).verdict == .timeLimitExceeded(.wall))
            let int80 = try SourceFile(name: "main.rs", content: Array(try Data(contentsOf: URL(fileURLWithPath: TestSandbox.hostileDirectory + "/rust/int80_i386_abi.rs"))))
            #expect(try await engine.execute(ExecutionRequest(language: "rust", files: [int80])).run?.signal == SIGSYS)

            // A toolchain that is not there: the box cannot be built, and the program never runs.
            catalog.runtimes[0].run.mounts.append(.init(source: "/nonexistent/talos-toolchain", destination: "/opt/toolchain"))
            let broken = try SandboxEngine(
                configuration: SandboxConfiguration(
                    stateDirectory: TestSandbox.root + "/state-broken", workDirectory: TestSandbox.root + "/work-broken",
                    engineID: "test-broken"
                ),
                catalog: catalog, audit: audit, logger: .init(label: "test")
            )
            let marker = TestSandbox.root + "/ran-outside"
            let probe = try SourceFile(name: "main.py", text: "open('\(marker)', 'w').write('x')\n")
            let failed = try await broken.execute(ExecutionRequest(language: catalog.runtimes[0].language, files: [probe]))
            #expect(failed.verdict == .internalError)
            #expect(!FileManager.default.fileExists(atPath: marker), "no unsandboxed fallback")
            await broken.settled()
            #expect(TestSandbox.leftovers(of: broken).isEmpty)

            let actions = try await SQLAuditRepository(database: test.database).records(afterSeq: 0, limit: 100).map(\.action)
            #expect(actions.contains("sandbox.oom_kill"))
            #expect(actions.contains("sandbox.timeout"))
            #expect(actions.contains("sandbox.setup_failed"))
            #expect(actions.contains("sandbox.seccomp_violation"))
            #expect(actions.filter { $0 == "sandbox.stage" }.count == 5, "every stage's end is on the record: 2 python, rust compile and run, and the broken one")
        }
    }
}
