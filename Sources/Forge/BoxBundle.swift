import Foundation
import TalosCore

/// One box on the host: an OCI bundle directory that Talos creates fresh
/// for every stage and deletes afterwards.
///
/// Layout (`0711`, so the mapped container root can traverse it):
/// `config.json`, `rootfs/` (empty but for mount points, mounted read-only),
/// `src/` (the sources, read-only in the box), `out/` (compile output).
/// The host never opens anything the box could have written: compile output
/// is only bind-mounted into the next box, never read by Talos.
struct BoxBundle {
    let directory: String
    var rootfs: String { directory + "/rootfs" }
    var sources: String { directory + "/src" }
    /// The job's command line and per-process limits, for the launcher.
    var job: String { directory + "/job" }

    /// The unprivileged host ranges the boxes' users map to: one range of
    /// `idRangeSize` ids per concurrent slot, from `firstHostID` up.
    static let firstHostID = 200_000
    static let idRangeSize = 65_536
    static let boxUser = 65_534
    /// The most slots an engine runs at once (`forge.concurrency` ≤ 256).
    static let maximumSlots = 256

    /// The host range of slot `slot`.
    static func hostIDBase(slot: Int) -> Int {
        firstHostID + min(max(0, slot), maximumSlots - 1) * idRangeSize
    }

    /// Whether `uid` lies in any box's range.
    static func isBoxID(_ uid: Int) -> Bool {
        (firstHostID..<(firstHostID + maximumSlots * idRangeSize)).contains(uid)
    }

    static func create(at directory: String) throws -> BoxBundle {
        let bundle = BoxBundle(directory: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o711])
        try FileManager.default.createDirectory(atPath: bundle.rootfs, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        try FileManager.default.createDirectory(atPath: bundle.sources, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        try FileManager.default.createDirectory(atPath: bundle.job, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        try bundle.mirrorMergedDirectories()
        return bundle
    }

    /// Writes the sources into `src/`, a directory this process just created,
    /// with `O_EXCL | O_NOFOLLOW`: nothing pre-existing is ever followed.
    func writeSources(_ files: [SourceFile]) throws {
        for file in files {
            try store(file.content, at: sources + "/" + file.name)
        }
    }

    /// The launcher's job file (see `launcher/talos-launch.c`): the
    /// arguments, and the open-file, file-size and CPU-time limits it
    /// lowers to the job's before executing them.
    static func jobFile(arguments: [String], limits: SandboxLimits) throws -> [UInt8] {
        guard (1...1024).contains(arguments.count), arguments.allSatisfy({ !$0.contains("\0") }) else {
            throw ForgeError.invalidFiles("at most 1024 arguments in all, none with a NUL byte")
        }
        let cpuSeconds = max(1, (limits.cpuMilliseconds + 999) / 1000)
        let fields = ["talos-job-1", String(limits.openFiles), String(limits.tmpfsMiB * 1024 * 1024), String(cpuSeconds), String(cpuSeconds + 1), String(arguments.count)]
        var bytes: [UInt8] = []
        for field in fields + arguments { bytes += Array(field.utf8) + [0] }
        guard bytes.count <= 1 << 20 else { throw ForgeError.invalidFiles("the command line is larger than 1 MiB") }
        return bytes
    }

    /// Writes the job file into `job/`, created with the bundle: like the
    /// sources, never through anything pre-existing.
    func writeJob(_ arguments: [String], limits: SandboxLimits) throws {
        try store(Self.jobFile(arguments: arguments, limits: limits), at: job + "/argv")
    }

    private func store(_ content: [UInt8], at path: String) throws {
        let descriptor = try systemCall("open") {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        }
        defer { close(descriptor) }
        try systemCall("fchmod") { fchmod(descriptor, 0o644) }
        var offset = 0
        while offset < content.count {
            let written = try content.withUnsafeBytes { buffer in
                try systemCall("write") { write(descriptor, buffer.baseAddress! + offset, buffer.count - offset) }
            }
            offset += written
        }
    }

    var outputDirectory: String { directory + "/out" }

    /// The compile stage's output directory: a tmpfs of `sizeMiB` owned by
    /// the box's user, so what a compiler writes is bounded like every other
    /// writable place and never lands on the host's disk.
    func makeOutputDirectory(sizeMiB: Int, hostIDBase: Int) throws -> String {
        let path = outputDirectory
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let owner = hostIDBase + Self.boxUser
        let options = "size=\(sizeMiB)m,nr_inodes=8192,mode=0700,uid=\(owner),gid=\(owner)"
        try systemCall("mount") {
            mount("tmpfs", path, "tmpfs", UInt(MS_NOSUID | MS_NODEV), options)
        }
        return path
    }

    /// Where the host's `/lib` and `/lib64` are links into `/usr` (a merged
    /// `/usr`), the box's are too: linker scripts and ELF interpreters name
    /// `/lib/…` and `/lib64/…`, and the libraries are mounted under `/usr`.
    func mirrorMergedDirectories() throws {
        for name in ["lib", "lib64"] {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/" + name),
                target.hasPrefix("usr/"), !target.split(separator: "/").contains("..")
            else { continue }
            try FileManager.default.createSymbolicLink(atPath: rootfs + "/" + name, withDestinationPath: target)
        }
    }

    /// Creates the mount points: crun, as the mapped root, cannot create
    /// entries in a root-owned read-only root.
    func makeMountPoints(_ mounts: [(destination: String, isFile: Bool)]) throws {
        for (destination, isFile) in mounts {
            let path = rootfs + destination
            let parent = (path as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            if isFile {
                if !FileManager.default.fileExists(atPath: path) {
                    guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644]) else {
                        throw ForgeError.sandboxUnavailable("cannot create a mount point")
                    }
                }
            } else {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
        }
    }

    func writeConfig(_ config: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
        guard FileManager.default.createFile(atPath: directory + "/config.json", contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ForgeError.sandboxUnavailable("cannot write the bundle")
        }
    }

    func remove() {
        Self.remove(directory: directory)
    }

    /// Detaches the output tmpfs, if any, then deletes the bundle without
    /// following any link the box may have planted.
    static func remove(directory: String) {
        _ = umount2(directory + "/out", Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A source file of a submission: a plain name (no directories, no dot
/// files) and its bytes.
public struct SourceFile: Sendable, Equatable {
    public let name: String
    public let content: [UInt8]

    public init(name: String, content: [UInt8]) throws {
        let allowed = name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                true
            default: false
            }
        }
        guard allowed, !name.isEmpty, name.utf8.count <= 100, !name.hasPrefix("."), name != "main" else {
            throw ForgeError.invalidFiles("file name \(name.prefix(40)) is not allowed; use letters, digits, _ - and .")
        }
        self.name = name
        self.content = content
    }

    public init(name: String, text: String) throws {
        try self.init(name: name, content: Array(text.utf8))
    }
}
