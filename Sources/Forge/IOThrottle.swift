import CSystemShims
import Foundation

/// The disks a box's I/O is throttled on, and why any storage it touches is
/// not throttled.
///
/// The kernel throttles whole disks only: a throttle on a partition
/// (`/dev/vda1`) or on a filesystem with no block device (tmpfs, overlay, a
/// network filesystem) is refused with `ENODEV`, and crun then cannot set up
/// any box. So each path the boxes use (the work directory and the
/// toolchains they read) is traced to the disk behind it: a partition to its
/// whole disk, a device-mapper or other virtual disk to itself, and storage
/// with no block device to nothing, with the reason kept. Each disk is then
/// tried once on the engine's own cgroup; a disk the kernel refuses is left
/// out, with the kernel's reason.
///
/// What stays unthrottled is bounded another way: everything a box can write
/// (`/box`, `/tmp`, `/dev/shm`, the compile output) is a size-capped tmpfs
/// whose pages count against the box's memory limit, and toolchains are read
/// through the page cache.
public struct IOThrottle: Sendable, Equatable {
    public struct Disk: Sendable, Hashable {
        public var major: Int
        public var minor: Int
        /// The kernel's name, e.g. `vda` or `dm-0`.
        public var name: String
    }

    /// Throttled per box at the configured rate.
    public var disks: [Disk]
    /// One line per path or disk that is not throttled, and why.
    public var exceptions: [String]

    /// What `doctor` and the start-up log say.
    public var summary: String {
        var parts: [String] = []
        if disks.isEmpty {
            parts.append("no disk is throttled")
        } else {
            parts.append("throttled on " + disks.map { "\($0.name) (\($0.major):\($0.minor))" }.joined(separator: ", "))
        }
        parts += exceptions
        if !exceptions.isEmpty {
            parts.append("what a box writes is memory-backed tmpfs, capped in size and counted in its memory limit")
        }
        return parts.joined(separator: "; ")
    }

    /// Traces `paths` to their disks without trying them on a cgroup.
    public static func plan(paths: [String], sysfs: String = "/sys/dev/block") -> IOThrottle {
        var disks: [Disk] = []
        var exceptions: [String] = []
        for path in paths {
            switch disk(holding: path, sysfs: sysfs) {
            case .disk(let disk):
                if !disks.contains(disk) { disks.append(disk) }
            case .none(let reason):
                let line = "\(path): \(reason)"
                if !exceptions.contains(line) { exceptions.append(line) }
            }
        }
        return IOThrottle(disks: disks, exceptions: exceptions)
    }

    enum Lookup: Equatable {
        case disk(Disk)
        case none(String)
    }

    /// The whole disk behind the filesystem holding `path`.
    static func disk(holding path: String, sysfs: String) -> Lookup {
        var info = stat()
        guard stat(path, &info) == 0 else { return .none("cannot be read (\(String(cString: strerror(errno))))") }
        let device = UInt64(info.st_dev)
        let major = Int(((device >> 32) & 0xffff_f000) | ((device >> 8) & 0xfff))
        let minor = Int(((device >> 12) & 0xffff_ff00) | (device & 0xff))
        let entry = "\(sysfs)/\(major):\(minor)"
        guard let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: entry) else {
            return .none("no block device (\(major):\(minor): tmpfs, overlay, a network or another virtual filesystem)")
        }
        // Entries are links like ../../devices/…/block/vda/vda1.
        let target = URL(fileURLWithPath: resolved, relativeTo: URL(fileURLWithPath: sysfs + "/")).standardizedFileURL.path
        var disk = target
        if FileManager.default.fileExists(atPath: target + "/partition") {
            disk = (target as NSString).deletingLastPathComponent
        }
        guard let text = try? String(contentsOfFile: disk + "/dev", encoding: .utf8) else {
            return .none("the disk behind \(major):\(minor) is not readable in sysfs")
        }
        let numbers = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":")
        guard numbers.count == 2, let diskMajor = Int(numbers[0]), let diskMinor = Int(numbers[1]) else {
            return .none("the disk behind \(major):\(minor) has no device number")
        }
        return .disk(Disk(major: diskMajor, minor: diskMinor, name: (disk as NSString).lastPathComponent))
    }

    /// Keeps the disks the kernel accepts a throttle for, tried on `cgroup`
    /// (the engine's own cgroup directory in the hierarchy that throttles:
    /// `io.max` on v2, `blkio.throttle.*` on v1), and clears each trial.
    func tried(on directory: String?, mode: CgroupLocator.Mode) -> IOThrottle {
        guard let directory else {
            guard !disks.isEmpty else { return self }
            let reason = mode == .v2 ? "the io controller is not delegated to this cgroup" : "no blkio hierarchy is mounted"
            return IOThrottle(disks: [], exceptions: exceptions + disks.map { "\($0.name): not throttled, \(reason)" })
        }
        var accepted: [Disk] = []
        var exceptions = self.exceptions
        for disk in disks {
            let device = "\(disk.major):\(disk.minor)"
            let trial: [(file: String, set: String, clear: String)] =
                switch mode {
                case .v2: [("io.max", "\(device) rbps=1073741824", "\(device) rbps=max wbps=max riops=max wiops=max")]
                case .v1: [("blkio.throttle.read_bps_device", "\(device) 1073741824", "\(device) 0")]
                }
            var failure: String?
            for step in trial {
                let file = directory + "/" + step.file
                if let error = Self.write(step.set, to: file) {
                    failure = error
                } else {
                    _ = Self.write(step.clear, to: file)
                }
            }
            if let failure {
                exceptions.append("\(disk.name) (\(device)): the kernel refuses a throttle (\(failure))")
            } else {
                accepted.append(disk)
            }
        }
        return IOThrottle(disks: accepted, exceptions: exceptions)
    }

    /// Writes `text` in one `write`, as cgroup files require; the error, or nil.
    static func write(_ text: String, to path: String) -> String? {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return String(cString: strerror(errno)) }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        return written == bytes.count ? nil : String(cString: strerror(errno))
    }
}
