import Foundation

/// Reads one box's cgroup accounting, on cgroup v1 or v2, before the
/// runtime deletes the cgroup.
struct CgroupStats: Sendable, Equatable {
    var cpuNanoseconds: UInt64 = 0
    var peakMemoryBytes: UInt64 = 0
    var oomKills: UInt64 = 0
    /// Times a fork was refused by the PID limit.
    var pidLimitHits: UInt64 = 0
}

/// Where the cgroups of boxes live.
struct CgroupLocator: Sendable {
    enum Mode: Sendable {
        case v1
        case v2
    }

    let mode: Mode
    /// The engine's own cgroup (memory controller on v1), boxes nest below it.
    let ownPath: String
    let root = "/sys/fs/cgroup"
    /// Where each v1 controller is mounted, read from the mount table (a
    /// host may mount `cpu,cpuacct` together, under any name).
    var v1Mounts: [String: String] = [:]

    /// The v1 hierarchy holding `controller`.
    func v1Root(_ controller: String) -> String {
        v1Mounts[controller] ?? root + "/" + controller
    }

    /// Why the engine cannot account a box's CPU time here, or nil. Without
    /// it the CPU limit cannot be enforced, so the engine refuses to run.
    func cpuAccountingProblem() -> String? {
        let file: String
        switch mode {
        case .v1: file = v1Root("cpuacct") + "/cpuacct.usage"
        case .v2: file = root + ownPath + "/cpu.stat"
        }
        guard FileManager.default.isReadableFile(atPath: file) else {
            return "CPU accounting is not readable at \(file); CPU limits cannot be enforced"
        }
        if mode == .v2, Self.field("usage_usec", in: file) == nil {
            return "\(file) has no usage_usec; CPU limits cannot be enforced"
        }
        if mode == .v1, Self.number(file) == nil {
            return "\(file) holds no number; CPU limits cannot be enforced"
        }
        return nil
    }

    static func detect() -> CgroupLocator {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        let unifiedAtRoot = mounts.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 2 && fields[1] == "/sys/fs/cgroup" && fields[2] == "cgroup2"
        }
        let membership = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        var own = "/"
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if unifiedAtRoot, fields[0] == "0" { own = String(fields[2]) }
            if !unifiedAtRoot, fields[1].split(separator: ",").contains("memory") { own = String(fields[2]) }
        }
        var v1Mounts: [String: String] = [:]
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[2] == "cgroup" else { continue }
            for option in fields[3].split(separator: ",") where ["cpuacct", "memory", "pids", "blkio"].contains(option) {
                v1Mounts[String(option)] = String(fields[1])
            }
        }
        return CgroupLocator(mode: unifiedAtRoot ? .v2 : .v1, ownPath: own == "/" ? "" : own, v1Mounts: v1Mounts)
    }

    /// The `cgroupsPath` for a box: under the engine's own cgroup.
    func boxPath(engine: String, box: String) -> String {
        ownPath + "/talos/" + engine + "/" + box
    }

    func enginePath(engine: String) -> String {
        ownPath + "/talos/" + engine
    }

    func read(boxPath: String) -> CgroupStats {
        var stats = CgroupStats()
        switch mode {
        case .v1:
            stats.cpuNanoseconds = Self.number(v1Root("cpuacct") + boxPath + "/cpuacct.usage") ?? 0
            stats.peakMemoryBytes = Self.number(v1Root("memory") + boxPath + "/memory.max_usage_in_bytes") ?? 0
            stats.oomKills = Self.field("oom_kill", in: v1Root("memory") + boxPath + "/memory.oom_control") ?? 0
            stats.pidLimitHits = Self.field("max", in: v1Root("pids") + boxPath + "/pids.events") ?? 0
        case .v2:
            stats.cpuNanoseconds = (Self.field("usage_usec", in: root + boxPath + "/cpu.stat") ?? 0) * 1000
            stats.peakMemoryBytes = Self.number(root + boxPath + "/memory.peak") ?? 0
            stats.oomKills = Self.field("oom_kill", in: root + boxPath + "/memory.events") ?? 0
            stats.pidLimitHits = Self.field("max", in: root + boxPath + "/pids.events") ?? 0
        }
        return stats
    }

    /// CPU used so far, for the watchdog.
    func cpuNanoseconds(boxPath: String) -> UInt64? {
        switch mode {
        case .v1: Self.number(v1Root("cpuacct") + boxPath + "/cpuacct.usage")
        case .v2: Self.field("usage_usec", in: root + boxPath + "/cpu.stat").map { $0 * 1000 }
        }
    }

    /// Every directory a box or engine path may occupy, deepest first.
    func directories(for path: String) -> [String] {
        switch mode {
        case .v2: return [root + path]
        case .v1:
            let hierarchies = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            return hierarchies.map { root + "/" + $0 + path }
        }
    }

    /// Removes leftover (empty) box cgroups under an engine path.
    func removeLeftovers(engine: String) {
        for directory in directories(for: enginePath(engine: engine)) {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for child in children {
                var isDirectory: ObjCBool = false
                let path = directory + "/" + child
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    rmdir(path)
                }
            }
        }
    }

    static func number(_ path: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func field(_ name: String, in path: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return UInt64(parts[1]) }
        }
        return nil
    }
}
