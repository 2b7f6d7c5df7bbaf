@testable import Forge
import Foundation
import Logging
import Testing

/// Where the engine and its work directory live: the cgroup it finds itself
/// in (the three v2 placements run in the cgroup v2 VM), and storage that is
/// a partition or has no block device at all. Part of the serialized sandbox
/// suite: its boxes must not run beside the cases that count box processes.
extension ForgeSandboxTests {
    @Test("a running box's cgroup holds its limits: memory without swap, pids, CPU, I/O per whole disk")
    func boxCgroup() async throws {
        let engine = try TestSandbox.engine(id: "placement")
        defer { engine.close() }
        let cgroups = engine.cgroups
        if cgroups.mode == .v2 {
            // No internal processes: unless at the hierarchy's root, this
            // process left its cgroup for the supervisor leaf.
            let membership = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
            let ownDirectory = cgroups.root + cgroups.ownPath
            let isRoot = !FileManager.default.fileExists(atPath: ownDirectory + "/cgroup.type")
            #expect(isRoot || membership.contains("/" + CgroupLocator.supervisorLeaf + "\n"), "\(membership)")
            for directory in [ownDirectory, ownDirectory + "/talos", cgroups.root + cgroups.enginePath(engine: engine.configuration.engineID)] {
                let enabled = CgroupLocator.words(directory + "/cgroup.subtree_control")
                #expect(Set(enabled).isSuperset(of: CgroupLocator.requiredControllers), "\(directory): \(enabled)")
            }
        }
        let sleeper = try SourceFile(name: "main.py", text: "import time\ntime.sleep(3)\nprint('done')\n")
        let request = ExecutionRequest(
            language: "python", files: [sleeper], limits: LimitRequest(memoryMiB: 96, pids: 24, wallMilliseconds: 60_000)
        )
        async let running = engine.execute(request)
        // The box's limits are written before its first process starts.
        var files: [String: String] = [:]
        for _ in 0..<6000 {
            files = Self.runningBoxFiles(engine)
            if !files.isEmpty { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let result = try await running
        #expect(result.verdict == .ok && result.run?.stdout == "done\n", "\(result.run?.stderr.suffix(300) ?? "")")
        #expect(!files.isEmpty, "the box's cgroup was seen while it ran")
        let rate = engine.configuration.policy.defaults.ioBytesPerSecond
        switch cgroups.mode {
        case .v2:
            #expect(files["memory.max"] == String(96 << 20))
            #expect(files["memory.swap.max"] == "0", "no swap")
            #expect(files["pids.max"] == "24")
            #expect(files["cpu.max"] == "\(1000 * engine.configuration.policy.defaults.cpuPercent) 100000")
            for disk in engine.ioThrottle.disks {
                #expect(files["io.max"]?.contains("\(disk.major):\(disk.minor) rbps=\(rate) wbps=\(rate)") == true, "\(files["io.max"] ?? "")")
            }
        case .v1:
            #expect(files["memory.limit_in_bytes"] == String(96 << 20))
            if let both = files["memory.memsw.limit_in_bytes"] { #expect(both == String(96 << 20), "no swap") }
            #expect(files["pids.max"] == "24")
            for disk in engine.ioThrottle.disks {
                #expect(files["blkio.throttle.read_bps_device"]?.contains("\(disk.major):\(disk.minor) \(rate)") == true)
            }
        }
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty)
    }

    @Test("a work directory on tmpfs: boxes run, and the unthrottled storage is a stated fallback")
    func tmpfsWorkDirectory() async throws {
        let work = TestSandbox.root + "/tmpfs-work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        #expect(mount("tmpfs", work, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "size=64m,mode=0711") == 0)
        defer { umount2(work, Int32(MNT_DETACH)) }
        let engine = try TestSandbox.engine(id: "tmpfs", workDirectory: work + "/engine")
        defer { engine.close() }
        #expect(!engine.ioThrottle.disks.contains { $0.major == 0 }, "no throttle on an anonymous device")
        #expect(engine.ioThrottle.exceptions.contains { $0.hasPrefix(work + "/engine: no block device") }, "\(engine.ioThrottle.exceptions)")
        #expect(engine.ioThrottle.summary.contains("memory-backed tmpfs"))
        let hello = try SourceFile(name: "main.py", text: "print(open('/tmp/x', 'w').write('abc'))\n")
        let result = try await engine.execute(ExecutionRequest(language: "python", files: [hello], limits: LimitRequest(wallMilliseconds: 60_000)))
        #expect(result.verdict == .ok && result.run?.stdout == "3\n", "\(result.run?.setupFailure ?? result.run?.stderr ?? "")")
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty)
    }

    @Test(
        "a work directory on a partition: the disk behind it is throttled, not the partition",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.ext4") && FileManager.default.fileExists(atPath: "/dev/loop-control"))
    )
    func partitionWorkDirectory() async throws {
        let image = TestSandbox.root + "/disk.img"
        let mountPoint = TestSandbox.root + "/partition"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try Self.writeDiskImage(image, megabytes: 64)
        let loop = try Self.shell(["/usr/sbin/losetup", "-P", "-f", "--show", image]).trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? Self.shell(["/usr/sbin/losetup", "-d", loop]) }
        // Partitions of a loop device appear when the table is read.
        _ = try? Self.shell(["/usr/bin/partx", "-a", loop])
        let partition = loop + "p1"
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: partition) {
            try await Task.sleep(for: .milliseconds(10))
        }
        _ = try Self.shell(["/usr/sbin/mkfs.ext4", "-q", "-F", partition])
        #expect(mount(partition, mountPoint, "ext4", 0, nil) == 0)
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        let plan = IOThrottle.plan(paths: [mountPoint])
        let diskName = (loop as NSString).lastPathComponent
        #expect(plan.disks.map(\.name) == [diskName], "\(plan)")
        let engine = try TestSandbox.engine(id: "partition", workDirectory: mountPoint + "/work")
        defer { engine.close() }
        #expect(engine.ioThrottle.disks.contains { $0.name == diskName }, "\(engine.ioThrottle.summary)")
        #expect(!engine.ioThrottle.disks.contains { $0.name == diskName + "p1" })
        let hello = try SourceFile(name: "main.py", text: "print('on a partition')\n")
        let result = try await engine.execute(ExecutionRequest(language: "python", files: [hello], limits: LimitRequest(wallMilliseconds: 60_000)))
        #expect(result.verdict == .ok && result.run?.stdout == "on a partition\n", "\(result.run?.setupFailure ?? result.run?.stderr ?? "")")
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty)
    }

    @Test("an engine id is a plain name, never a path into other cgroups", arguments: ["..", ".", "../x", "a/b", "", "-x"])
    func engineIDs(_ id: String) {
        #expect(throws: ForgeError.self) {
            try SandboxEngine(
                configuration: SandboxConfiguration(stateDirectory: TestSandbox.root + "/state-bad", workDirectory: TestSandbox.root + "/work-bad", engineID: id),
                catalog: try RuntimeCatalog.builtIn(), audit: nil, logger: .init(label: "forge-test") { _ in SwiftLogNoOpLogHandler() }
            )
        }
    }

    @Test("a box that cannot be set up is an internal error that says why, to the operator only")
    func setupFailureReason() async throws {
        // An init that is a directory: crun cannot bind it over a file.
        var configuration = SandboxConfiguration(
            stateDirectory: TestSandbox.root + "/state-broken", workDirectory: TestSandbox.root + "/work-broken", engineID: "test-broken"
        )
        configuration.initPath = TestSandbox.root + "/not-an-init"
        try FileManager.default.createDirectory(atPath: configuration.initPath, withIntermediateDirectories: true)
        let engine = try SandboxEngine(
            configuration: configuration, catalog: try RuntimeCatalog.builtIn(), audit: nil,
            logger: .init(label: "forge-test") { _ in SwiftLogNoOpLogHandler() }
        )
        defer { engine.close() }
        let hello = try SourceFile(name: "main.py", text: "print('never')\n")
        let result = try await engine.execute(ExecutionRequest(language: "python", files: [hello]))
        #expect(result.verdict == .internalError)
        let reason = try #require(result.run?.setupFailure)
        #expect(!reason.isEmpty)
        let encoded = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        #expect(!encoded.contains(reason), "the reason stays out of what the program's owner sees")
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty)
    }

    /// The limit files of this engine's running box, once a process runs in it.
    static func runningBoxFiles(_ engine: SandboxEngine) -> [String: String] {
        let cgroups = engine.cgroups
        let engineDirectory: String
        let names: [String]
        switch cgroups.mode {
        case .v2:
            engineDirectory = cgroups.root + cgroups.enginePath(engine: engine.configuration.engineID)
            names = ["memory.max", "memory.swap.max", "pids.max", "cpu.max", "io.max"]
        case .v1:
            engineDirectory = cgroups.v1Root("memory") + cgroups.enginePath(engine: engine.configuration.engineID)
            names = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        }
        let waiting = engine.pool.waiting.map(\.id)
        for box in (try? FileManager.default.contentsOfDirectory(atPath: engineDirectory)) ?? [] where !waiting.contains(where: { box.contains($0) }) {
            let directory = engineDirectory + "/" + box
            guard !CgroupLocator.words(directory + "/cgroup.procs").isEmpty else { continue }
            // crun places the box's first process, then writes its limits
            // (pids last on v2); wait for them.
            let pidsMax = cgroups.mode == .v2
                ? directory + "/pids.max"
                : cgroups.v1Root("pids") + cgroups.enginePath(engine: engine.configuration.engineID) + "/" + box + "/pids.max"
            if (try? String(contentsOfFile: pidsMax, encoding: .utf8))?.hasPrefix("max") != false { continue }
            var files: [String: String] = [:]
            for name in names {
                if let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) {
                    files[name] = text.trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            if cgroups.mode == .v1 {
                let path = cgroups.enginePath(engine: engine.configuration.engineID) + "/" + box
                files["pids.max"] = (try? String(contentsOfFile: cgroups.v1Root("pids") + path + "/pids.max", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                files["blkio.throttle.read_bps_device"] = try? String(
                    contentsOfFile: cgroups.v1Root("blkio") + path + "/blkio.throttle.read_bps_device", encoding: .utf8
                )
            }
            // All of them, not a moment between two writes.
            let memory = files["memory.max"] ?? files["memory.limit_in_bytes"] ?? "max"
            let throttle = files["io.max"] ?? files["blkio.throttle.read_bps_device"] ?? ""
            if memory == "max" || memory.hasPrefix("92233720") || (!engine.ioThrottle.disks.isEmpty && throttle.isEmpty) { continue }
            return files
        }
        return [:]
    }

    /// A sparse disk image with an MBR holding one Linux partition.
    static func writeDiskImage(_ path: String, megabytes: Int) throws {
        var table = [UInt8](repeating: 0, count: 512)
        let start: UInt32 = 2048
        let sectors = UInt32(megabytes * 2048) - start
        table[446 + 4] = 0x83
        withUnsafeBytes(of: start.littleEndian) { table.replaceSubrange(454..<458, with: $0) }
        withUnsafeBytes(of: sectors.littleEndian) { table.replaceSubrange(458..<462, with: $0) }
        table[510] = 0x55
        table[511] = 0xaa
        guard FileManager.default.createFile(atPath: path, contents: Data(table)) else {
            throw ForgeError.sandboxUnavailable("cannot write \(path)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(megabytes) << 20)
        try handle.close()
    }

    static func shell(_ arguments: [String]) throws -> String {
        let result = try HostProcess.run(arguments)
        guard result.status == 0 else {
            throw ForgeError.sandboxUnavailable("\(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
        }
        return result.output
    }
}
