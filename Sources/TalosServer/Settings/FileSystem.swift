#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
// `struct stat` can come through CoreFoundation's module once Foundation is
// in the import graph; naming it keeps member lookup unambiguous.
#if canImport(CoreFoundation)
import CoreFoundation
#endif
import TalosCore

/// The few file operations the server needs, each through ``systemCall`` and
/// none following a final symlink where a secret is involved.
enum FileSystem {
    struct Status {
        var mode: UInt32
        var isDirectory: Bool
        var isRegular: Bool
        var isSymlink: Bool
        var owner: UInt32
    }

    /// `lstat`, or nil if the path does not exist.
    static func status(_ path: String) throws -> Status? {
        var info = stat()
        do {
            try systemCall("lstat") { lstat(path, &info) }
        } catch let error as SystemCallError where error.errno == ENOENT {
            return nil
        }
        let type = info.st_mode & S_IFMT
        return Status(
            mode: UInt32(info.st_mode),
            isDirectory: type == S_IFDIR,
            isRegular: type == S_IFREG,
            isSymlink: type == S_IFLNK,
            owner: info.st_uid
        )
    }

    /// The mode of what `path` finally points at (`stat`, following links).
    static func followedMode(_ path: String) throws -> UInt32 {
        var info = stat()
        try systemCall("stat") { stat(path, &info) }
        return UInt32(info.st_mode)
    }

    /// Creates `path` (and parents) with `mode` where missing.
    static func makeDirectory(_ path: String, mode: mode_t) throws {
        if try status(path) != nil { return }
        let parent = parentPath(of: path)
        if !parent.isEmpty, parent != path { try makeDirectory(parent, mode: 0o755) }
        do {
            try systemCall("mkdir") { mkdir(path, mode) }
        } catch let error as SystemCallError where error.errno == EEXIST {
            return
        }
        try systemCall("chmod") { chmod(path, mode) }
    }

    static func parentPath(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Reads a whole regular file without following a final symlink.
    static func read(_ path: String, limit: Int = 1 << 20) throws -> [UInt8] {
        let descriptor = try systemCall("open") { open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while bytes.count <= limit {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                try systemCall("read") { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
        throw ServerError.filesystem("\(path) is larger than \(limit) bytes")
    }

    /// Opens `path` (following links), then checks the opened file itself
    /// is a regular file nobody but its owner can read, and reads it. Checking
    /// the descriptor leaves no window between the check and the read.
    static func readPrivate(_ path: String, limit: Int) throws -> [UInt8] {
        let descriptor = try systemCall("open") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(descriptor) }
        var info = stat()
        try systemCall("fstat") { fstat(descriptor, &info) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ServerError.filesystem("\(path) is not a regular file") }
        if UInt32(info.st_mode) & 0o077 != 0 {
            throw ServerError.insecurePermissions(path: path, mode: UInt32(info.st_mode))
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while bytes.count <= limit {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                try systemCall("read") { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
        throw ServerError.filesystem("\(path) is larger than \(limit) bytes")
    }

    /// Writes a new file with `mode`; fails if it already exists (`O_EXCL`),
    /// so a racing process or a planted symlink is never overwritten.
    static func createExclusive(_ path: String, contents: [UInt8], mode: mode_t) throws {
        let descriptor = try systemCall("open") {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        }
        defer { close(descriptor) }
        try systemCall("fchmod") { fchmod(descriptor, mode) }
        var offset = 0
        while offset < contents.count {
            let written = try contents.withUnsafeBytes { buffer in
                try systemCall("write") { write(descriptor, buffer.baseAddress! + offset, buffer.count - offset) }
            }
            offset += written
        }
        try systemCall("fsync") { fsync(descriptor) }
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in generator.next() }
    }
}

extension FileSystem {
    static func remove(_ path: String) throws {
        do {
            try systemCall("unlink") { unlink(path) }
        } catch let error as SystemCallError where error.errno == ENOENT {}
    }
}
