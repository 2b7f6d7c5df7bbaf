@testable import Forge
import Foundation
import Logging
import Synchronization

/// One engine for the sandbox suites, with its own state directory and
/// cgroup subtree, so host checks can tell its leftovers from anything else.
enum TestSandbox {
    static let root = "/run/talos/forge-test-\(ProcessInfo.processInfo.processIdentifier)"

    static func engine(id: String, concurrency: Int = 2, workDirectory: String? = nil, pool: Int = 0) throws -> SandboxEngine {
        var configuration = SandboxConfiguration(
            stateDirectory: root + "/state-" + id, workDirectory: workDirectory ?? root + "/work-" + id, engineID: "test-" + id,
            maximumConcurrentRuns: concurrency, policy: isEmulated ? emulatedPolicy : LimitPolicy()
        )
        configuration.poolSize = pool
        return try SandboxEngine(
            configuration: configuration,
            catalog: try RuntimeCatalog.builtIn(),
            audit: nil,
            logger: Logger(label: "forge-test") { _ in SwiftLogNoOpLogHandler() }
        )
    }

    /// Set in the cgroup v2 VM, where everything runs under software
    /// emulation: compilers may be given more time there.
    static let isEmulated = ProcessInfo.processInfo.environment["TALOS_TEST_EMULATED"] != nil
    static let emulatedCompileMilliseconds = 300_000
    static var emulatedPolicy: LimitPolicy {
        var maxima = SandboxLimits.defaultMaxima
        maxima.cpuMilliseconds = emulatedCompileMilliseconds
        maxima.wallMilliseconds = emulatedCompileMilliseconds * 2
        return LimitPolicy(maxima: maxima)
    }

    static let shared = Mutex<SandboxEngine?>(nil)

    static func sharedEngine() throws -> SandboxEngine {
        try shared.withLock { engine in
            if let engine { return engine }
            // As a server runs it: boxes created ahead.
            let created = try Self.engine(id: "shared", pool: 2)
            engine = created
            return created
        }
    }

    static var hostileDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Hostile").path
    }

    /// Live processes running as any uid of the boxes' host range, but for
    /// the waiting init of each box created ahead in a pool. Zombies (dead,
    /// waiting to be reaped by their parent) are reaped when they are ours
    /// and never counted: they hold nothing but a process table entry.
    static func boxProcesses() -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let waiting = Set(LiveEngines.waitingBoxes.map { Int($0.containerPID) })
        return entries.compactMap(Int.init).filter { !waiting.contains($0) }.filter { pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                !status.contains("State:\tZ") || reap(pid),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
                let uid = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ Int($0) })
            else { return false }
            return BoxBundle.isBoxID(uid)
        }
    }

    /// Reaps `pid` if it is a zombie child of this process; always false, so
    /// the caller's filter drops it.
    private static func reap(_ pid: Int) -> Bool {
        var status: Int32 = 0
        _ = waitpid(pid_t(pid), &status, WNOHANG)
        return false
    }

    /// What this engine left: containers in its state, bundles, cgroups,
    /// mounts; boxes waiting in its pool are not left over. Call after
    /// ``SandboxEngine/settled()``.
    static func leftovers(of engine: SandboxEngine) -> [String] {
        let waiting = engine.pool.waiting.map(\.id)
        return everything(of: engine).filter { entry in !waiting.contains { entry.contains($0) } }
    }

    /// Everything of this engine's on the host, pooled boxes included.
    static func everything(of engine: SandboxEngine) -> [String] {
        var found: [String] = []
        if let listed = try? HostProcess.run([engine.configuration.crunPath, "--root", engine.configuration.stateDirectory, "list", "-q"]) {
            found += listed.output.split(separator: "\n").map { "container \($0)" }
        }
        let boxes = (try? FileManager.default.contentsOfDirectory(atPath: engine.configuration.workDirectory + "/boxes")) ?? []
        found += boxes.map { "bundle \($0)" }
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        found += mounts.split(separator: "\n").filter { $0.contains(engine.configuration.workDirectory + "/") }.map { "mount \($0)" }
        let cgroups = engine.cgroups
        for directory in cgroups.directories(for: cgroups.enginePath(engine: engine.configuration.engineID)) {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for child in children {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: directory + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    found.append("cgroup \(directory)/\(child)")
                }
            }
        }
        return found
    }
}
