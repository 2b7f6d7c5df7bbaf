#if canImport(Glibc)
import Glibc
#endif
@testable import Forge
import Foundation
import Logging
import Testing

/// Boxes created ahead: single use, the limits the job asked for, reaped
/// after a crash. Part of the serialized sandbox suite.
extension ForgeSandboxTests {
    /// Runs one job so the engine's python queue fills, and waits for it.
    static func warm(_ engine: SandboxEngine) async throws {
        let hello = try SourceFile(name: "main.py", text: "print('warm')\n")
        let result = try await engine.execute(ExecutionRequest(language: "python", files: [hello]))
        #expect(result.verdict == .ok, "\(result.run?.stderr.suffix(300) ?? "")")
        await engine.settled()
        #expect(engine.pool.waiting.count == engine.configuration.poolSize, "the pool filled")
    }

    @Test("a pooled box runs with the limits its job asked for: cgroup, open files, CPU time, memory")
    func pooledLimits() async throws {
        let engine = try TestSandbox.engine(id: "pool-limits", pool: 1)
        defer { engine.close() }
        try await Self.warm(engine)
        let hits = engine.poolCounts.hits
        let probe = try SourceFile(
            name: "main.py",
            text: """
                import resource, time
                time.sleep(2)
                for name in ("RLIMIT_NOFILE", "RLIMIT_CPU", "RLIMIT_FSIZE"):
                    print(name, *resource.getrlimit(getattr(resource, name)))

                """
        )
        let request = ExecutionRequest(
            language: "python", files: [probe],
            limits: LimitRequest(memoryMiB: 96, pids: 24, cpuMilliseconds: 3_000, wallMilliseconds: 60_000, openFiles: 40)
        )
        async let running = engine.execute(request)
        var files: [String: String] = [:]
        for _ in 0..<6000 {
            files = Self.runningBoxFiles(engine)
            if !files.isEmpty { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let result = try await running
        #expect(engine.poolCounts.hits == hits + 1, "the job took the pooled box")
        #expect(result.verdict == .ok, "\(result.run?.stderr.suffix(300) ?? "")")
        let lines = Set((result.run?.stdout ?? "").split(separator: "\n").map(String.init))
        #expect(lines == ["RLIMIT_NOFILE 40 40", "RLIMIT_CPU 3 4", "RLIMIT_FSIZE \(64 << 20) \(64 << 20)"], "\(lines)")
        let memory = engine.cgroups.mode == .v2 ? files["memory.max"] : files["memory.limit_in_bytes"]
        #expect(memory == String(96 << 20), "\(files)")
        #expect(files["pids.max"] == "24", "\(files)")

        // Memory both ways: 64 MiB stops a 128 MiB allocation, the default
        // 512 MiB of the next pooled box does not.
        let allocate = try SourceFile(name: "main.py", text: "data = bytearray(128 << 20)\nprint(len(data) >> 20)\n")
        await engine.settled()
        let small = try await engine.execute(ExecutionRequest(language: "python", files: [allocate], limits: LimitRequest(memoryMiB: 64)))
        #expect(small.verdict == .memoryLimitExceeded, "\(small.verdict.name)")
        await engine.settled()
        let large = try await engine.execute(ExecutionRequest(language: "python", files: [allocate]))
        #expect(large.verdict == .ok && large.run?.stdout == "128\n", "\(large.verdict.name) \(large.run?.stderr.suffix(200) ?? "")")
        #expect(engine.poolCounts.hits == hits + 3)

        // Another work-space size than the pool's is a box made for the job.
        let statvfs = try SourceFile(name: "main.py", text: "import os\ns = os.statvfs('/tmp')\nprint(s.f_blocks * s.f_frsize >> 20)\n")
        let sized = try await engine.execute(ExecutionRequest(language: "python", files: [statvfs], limits: LimitRequest(tmpfsMiB: 16)))
        #expect(sized.run?.stdout == "16\n", "\(sized.run?.stdout ?? "") \(sized.run?.stderr.suffix(200) ?? "")")
        #expect(engine.poolCounts.hits == hits + 3, "not from the pool")
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty, "\(TestSandbox.leftovers(of: engine))")
        #expect(TestSandbox.boxProcesses().isEmpty, "\(TestSandbox.boxProcesses())")
    }

    @Test("a pooled box cannot see the previous job's files, processes or output")
    func pooledIsolation() async throws {
        let engine = try TestSandbox.engine(id: "pool-fresh", pool: 1)
        defer { engine.close() }
        try await Self.warm(engine)
        let first = try SourceFile(
            name: "main.py",
            text: """
                import os, time
                for place in ("/tmp/left-by-a", "/box/left-by-a", "/dev/shm/left-by-a"):
                    with open(place, "w") as f:
                        f.write("secret of job a")
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        time.sleep(30)
                    os._exit(0)
                print("OUTPUT-OF-JOB-A")

                """
        )
        let a = try await engine.execute(ExecutionRequest(language: "python", files: [first]))
        #expect(a.verdict == .ok && a.run?.stdout == "OUTPUT-OF-JOB-A\n", "\(a.run?.stderr.suffix(300) ?? "")")
        await engine.settled()
        #expect(TestSandbox.boxProcesses().isEmpty, "job a's daemon died with its box: \(TestSandbox.boxProcesses())")
        let hits = engine.poolCounts.hits
        let second = try SourceFile(
            name: "main.py",
            text: """
                import os, sys
                print("tmp", sorted(os.listdir("/tmp")))
                print("box", sorted(os.listdir("/box")))
                print("shm", sorted(os.listdir("/dev/shm")))
                print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
                print("me", os.getpid())
                print("stdin", repr(sys.stdin.read()))

                """
        )
        let b = try await engine.execute(ExecutionRequest(language: "python", files: [second]))
        #expect(engine.poolCounts.hits == hits + 1, "job b ran in a pooled box")
        let out = b.run?.stdout ?? ""
        #expect(out.contains("tmp []\nbox []\nshm []\n"), "\(out)")
        let me = out.split(separator: "\n").first { $0.hasPrefix("me ") }?.dropFirst(3) ?? "?"
        #expect(out.contains("pids [1, \(me)]\n"), "only the box's init and the job: \(out)")
        #expect(out.contains("stdin ''"), "\(out)")
        #expect(!out.contains("OUTPUT-OF-JOB-A") && !(b.run?.stderr ?? "").contains("OUTPUT-OF-JOB-A"))
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty, "\(TestSandbox.leftovers(of: engine))")
    }

    @Test("boxes waiting in the pool of an engine that died are reaped when it starts again")
    func pooledReapedAfterCrash() async throws {
        let crashed = try TestSandbox.engine(id: "pool-crash", pool: 2)
        defer { crashed.close() }
        try await Self.warm(crashed)
        let waiting = crashed.pool.waiting
        #expect(waiting.count == 2)
        #expect(waiting.allSatisfy { kill($0.containerPID, 0) == 0 }, "their inits wait for a job")
        // The same state directory, as a restarted worker has it; the dead
        // engine's boxes are found there and killed.
        var configuration = crashed.configuration
        configuration.poolSize = 0
        let restarted = try SandboxEngine(configuration: configuration, catalog: crashed.catalog, audit: nil, logger: .init(label: "test"))
        defer { restarted.close() }
        for box in waiting {
            var status: Int32 = 0
            #expect(waitpid(box.containerPID, &status, 0) == box.containerPID, "\(box.id)'s init ended")
        }
        let listed = try HostProcess.run([configuration.crunPath, "--root", configuration.stateDirectory, "list", "-q"])
        #expect(listed.output.isEmpty, "\(listed.output)")
        for box in waiting {
            #expect(!FileManager.default.fileExists(atPath: box.bundle.directory))
        }
    }

    @Test("the launcher's job file: arguments and limits, bounded")
    func jobFile() throws {
        let limits = SandboxLimits.defaults
        let bytes = try BoxBundle.jobFile(arguments: ["/usr/bin/python3", "-c", "", "ü x"], limits: limits)
        let fields = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        #expect(fields == ["talos-job-1", "256", String(64 << 20), "5", "6", "4", "/usr/bin/python3", "-c", "", "ü x", ""])
        #expect(throws: ForgeError.invalidFiles) { try BoxBundle.jobFile(arguments: [], limits: limits) }
        #expect(throws: ForgeError.invalidFiles) { try BoxBundle.jobFile(arguments: ["a\0b"], limits: limits) }
        #expect(throws: ForgeError.invalidFiles) { try BoxBundle.jobFile(arguments: Array(repeating: "x", count: 1025), limits: limits) }
        #expect(throws: ForgeError.invalidFiles) { try BoxBundle.jobFile(arguments: Array(repeating: String(repeating: "x", count: 4096), count: 300), limits: limits) }
    }
}
