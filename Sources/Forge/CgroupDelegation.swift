import CSystemShims
import Foundation

/// Readying a cgroup v2 subtree for boxes.
///
/// On v2 a box's controllers must be enabled in every cgroup above it, and a
/// cgroup other than the root may hold processes or enable controllers for
/// its children, never both (the "no internal processes" rule). The engine
/// finds itself in one of three places:
/// - the root of the hierarchy (a VM or a bare host): nothing to move;
/// - a service's cgroup under systemd (`Delegate=yes`), and
/// - a container's delegated subtree, seen through its own cgroup namespace
///   as `/`: in both it first moves every process of its cgroup into a leaf
///   (`talos-supervisor`), then enables the controllers for its boxes.
extension CgroupLocator {
    /// The leaf the engine's own processes move into.
    static let supervisorLeaf = "talos-supervisor"
    /// What a box cannot run without: its CPU, memory and process limits.
    static let requiredControllers = ["cpu", "memory", "pids"]

    /// This locator with the engine's cgroup ready for boxes: on v1 as it
    /// is; on v2 with the processes moved and the controllers enabled down to
    /// `talos/<engine>`. Throws, saying what the host must delegate, when
    /// that cannot be done.
    func delegated(engine: String) throws -> CgroupLocator {
        guard mode == .v2 else {
            if let blkio = v1Mounts["blkio"] {
                try? FileManager.default.createDirectory(atPath: blkio + enginePath(engine: engine), withIntermediateDirectories: true)
            }
            return self
        }
        var base = ownPath
        if base.hasSuffix("/" + Self.supervisorLeaf) { base = String(base.dropLast(Self.supervisorLeaf.count + 1)) }
        let directory = root + base
        let available = Self.words(directory + "/cgroup.controllers")
        let missing = Self.requiredControllers.filter { !available.contains($0) }
        guard missing.isEmpty else {
            throw ForgeError.sandboxUnavailable(
                "cgroup v2 without delegation: \(directory) offers [\(available.joined(separator: " "))] but boxes need "
                    + "\(Self.requiredControllers.joined(separator: ", ")) (missing \(missing.joined(separator: ", "))); "
                    + "run Talos as a systemd service with Delegate=yes, or in a container with a private cgroup namespace "
                    + "and a writable /sys/fs/cgroup"
            )
        }
        let wanted = Self.requiredControllers + (available.contains("io") ? ["io"] : [])
        let enable = wanted.map { "+" + $0 }.joined(separator: " ")
        // The root cgroup alone has no cgroup.type and is exempt from the rule.
        if FileManager.default.fileExists(atPath: directory + "/cgroup.type") {
            // Root may write anywhere, so ask whether the cgroup was given to
            // us: a cgroup namespace's root (a container), systemd's mark of
            // Delegate=yes, or a cgroup holding only this engine and its
            // children. Never a login session's scope full of other programs.
            let strangers = Self.words(directory + "/cgroup.procs").filter { !Self.isSelfOrDescendant($0) }
            guard base.isEmpty || Self.isMarkedDelegated(directory) || strangers.isEmpty else {
                throw ForgeError.sandboxUnavailable(
                    "cgroup v2 without delegation: \(directory) also holds processes that are not Talos's (\(strangers.prefix(5).joined(separator: ", "))); "
                        + "run Talos as a systemd service with Delegate=yes, or in a container with a private cgroup namespace"
                )
            }
            try Self.moveProcesses(from: directory, into: directory + "/" + Self.supervisorLeaf)
        }
        var path = base
        for component in ["", "/talos", "/" + engine] {
            path += component
            let current = root + path
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw ForgeError.sandboxUnavailable("cannot create the cgroup \(current): \(String(cString: strerror(errno)))")
            }
            if let error = IOThrottle.write(enable, to: current + "/cgroup.subtree_control") {
                throw ForgeError.sandboxUnavailable(
                    "cannot enable \(wanted.joined(separator: ", ")) for boxes in \(current): \(error); "
                        + "the cgroup must be delegated to Talos and hold no other processes"
                )
            }
        }
        return CgroupLocator(mode: .v2, ownPath: base, v1Mounts: v1Mounts)
    }

    /// The directory where the kernel accepts this engine's I/O throttle
    /// (`io.max` or `blkio.throttle.*`), or nil when this host has none.
    func throttleDirectory(engine: String) -> String? {
        switch mode {
        case .v2:
            let parent = root + ownPath + "/talos"
            guard Self.words(parent + "/cgroup.subtree_control").contains("io") else { return nil }
            return root + enginePath(engine: engine)
        case .v1:
            guard let blkio = v1Mounts["blkio"] else { return nil }
            let directory = blkio + enginePath(engine: engine)
            return FileManager.default.fileExists(atPath: directory + "/blkio.throttle.read_bps_device") ? directory : nil
        }
    }

    /// Moves every process of `directory` into `leaf`, creating it. Processes
    /// that exit meanwhile are skipped; new ones are born in the leaf, since
    /// every process left in `directory` is gone after the loop.
    static func moveProcesses(from directory: String, into leaf: String) throws {
        if mkdir(leaf, 0o755) != 0, errno != EEXIST {
            throw ForgeError.sandboxUnavailable("cannot create the cgroup \(leaf): \(String(cString: strerror(errno)))")
        }
        for _ in 0..<8 {
            let pids = words(directory + "/cgroup.procs")
            if pids.isEmpty { return }
            for pid in pids {
                if let error = IOThrottle.write(pid, to: leaf + "/cgroup.procs"), pid_t(pid).map({ kill($0, 0) == 0 }) ?? false {
                    throw ForgeError.sandboxUnavailable("cannot move process \(pid) into \(leaf): \(error)")
                }
            }
        }
        throw ForgeError.sandboxUnavailable("processes keep appearing in \(directory); cannot leave it for a leaf")
    }

    /// systemd marks a delegated cgroup with `trusted.delegate=1`.
    static func isMarkedDelegated(_ directory: String) -> Bool {
        var value = [UInt8](repeating: 0, count: 8)
        let length = talos_getxattr(directory, "trusted.delegate", &value, UInt(value.count))
        return length == 1 && value[0] == UInt8(ascii: "1")
    }

    /// Whether `pid` is this process or one it started (directly or not).
    static func isSelfOrDescendant(_ pid: String) -> Bool {
        let own = getpid()
        guard var current = pid_t(pid) else { return false }
        for _ in 0..<64 {
            if current == own { return true }
            guard current > 1, let stat = try? String(contentsOfFile: "/proc/\(current)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { return false }
            current = parent
        }
        return false
    }

    static func words(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
    }
}

/// What `talos doctor` says about a cgroup v2 host: whether the engine can
/// give its boxes their controllers from where it runs.
public enum CgroupV2Report {
    public static func describe(
        root: String = "/sys/fs/cgroup", membership: String? = nil
    ) -> (ready: Bool, message: String) {
        let membership = membership ?? (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        var own = ""
        for line in membership.split(separator: "\n") where line.hasPrefix("0::") {
            own = String(line.dropFirst(3))
        }
        if own == "/" { own = "" }
        if own.hasSuffix("/" + CgroupLocator.supervisorLeaf) { own = String(own.dropLast(CgroupLocator.supervisorLeaf.count + 1)) }
        let directory = root + own
        let available = CgroupLocator.words(directory + "/cgroup.controllers")
        let missing = CgroupLocator.requiredControllers.filter { !available.contains($0) }
        let writable = access(directory + "/cgroup.subtree_control", W_OK) == 0
        let isRoot = !FileManager.default.fileExists(atPath: directory + "/cgroup.type")
        let controllers = available.joined(separator: " ")
        guard missing.isEmpty, writable else {
            let why = missing.isEmpty ? "it is not writable by this user" : "it lacks \(missing.joined(separator: ", "))"
            return (
                false,
                "unified cgroup v2 without delegation: Talos's cgroup \(own.isEmpty ? "/" : own) offers [\(controllers)] and \(why); "
                    + "boxes need cpu, memory and pids. Fix: run it as a systemd service with Delegate=yes, or in a container "
                    + "with a private cgroup namespace and /sys/fs/cgroup writable"
            )
        }
        let io = available.contains("io") ? "" : "; no io controller, so box I/O is not throttled"
        if isRoot {
            return (true, "unified cgroup v2; Talos runs at the hierarchy's root and gives boxes [\(controllers)]\(io)")
        }
        return (
            true,
            "unified cgroup v2, delegated at \(own.isEmpty ? "/ (a cgroup namespace)" : own) with [\(controllers)]: Talos moves its "
                + "processes into \(CgroupLocator.supervisorLeaf) and enables the controllers for its boxes\(io)"
        )
    }
}
