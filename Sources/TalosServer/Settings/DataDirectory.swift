#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import TalosCore

/// The server's data directory: database, secrets, TLS material, audit file.
///
/// Created 0700 on first run. Talos refuses to use it, or its secrets,
/// while group or others can read them.
public struct DataDirectory: Sendable {
    public let path: String
    public let secretsPath: String

    public var auditDirectory: String { path + "/audit" }
    public var auditFile: String { auditDirectory + "/audit.jsonl" }
    public var tlsDirectory: String { path + "/tls" }
    public var sqlitePath: String { path + "/talos.sqlite" }
    var nodeIDPath: String { path + "/node-id" }

    /// Opens `path`, creating what is missing, and checks permissions.
    /// - Parameter secretsPath: defaults to `path/secrets`.
    public static func prepare(path: String, secretsPath: String? = nil) throws -> DataDirectory {
        let directory = DataDirectory(path: path, secretsPath: secretsPath ?? path + "/secrets")
        try FileSystem.makeDirectory(directory.path, mode: 0o700)
        try Self.requirePrivate(directory.path, directory: true)
        for child in [directory.auditDirectory, directory.tlsDirectory] {
            try FileSystem.makeDirectory(child, mode: 0o700)
            try Self.requirePrivate(child, directory: true)
        }
        if secretsPath == nil {
            try FileSystem.makeDirectory(directory.secretsPath, mode: 0o700)
        }
        try SecretStore(directory: directory.secretsPath).checkPermissions()
        return directory
    }

    /// Opens an existing data directory without creating anything.
    public static func existing(path: String, secretsPath: String? = nil) throws -> DataDirectory {
        guard let status = try FileSystem.status(path), status.isDirectory else {
            throw ServerError.filesystem("data directory \(path) does not exist; run `talos serve` once to create it")
        }
        let directory = DataDirectory(path: path, secretsPath: secretsPath ?? path + "/secrets")
        try Self.requirePrivate(path, directory: true)
        try SecretStore(directory: directory.secretsPath).checkPermissions()
        return directory
    }

    /// A stable random id for the processes using this directory, recorded in
    /// every audit record they write.
    public func nodeID() throws -> String {
        if try FileSystem.status(nodeIDPath) == nil {
            let id = Hex.encode(FileSystem.randomBytes(8))
            do {
                try FileSystem.createExclusive(nodeIDPath, contents: Array(id.utf8), mode: 0o600)
            } catch let error as SystemCallError where error.errno == EEXIST {}
        }
        let text = String(decoding: try FileSystem.read(nodeIDPath, limit: 64), as: UTF8.self)
        let id = text.trimmingWhitespace
        guard id.count == 16, Hex.decode(id) != nil else {
            throw ServerError.filesystem("\(nodeIDPath) is damaged; it must hold 16 hex digits")
        }
        return id
    }

    /// Throws unless `path` is a real (non-symlink) file or directory that
    /// group and others cannot access.
    static func requirePrivate(_ path: String, directory: Bool) throws {
        guard let status = try FileSystem.status(path) else {
            throw ServerError.filesystem("\(path) does not exist")
        }
        if status.isSymlink {
            throw ServerError.filesystem("\(path) is a symbolic link; Talos does not follow links to its data")
        }
        if directory ? !status.isDirectory : !status.isRegular {
            throw ServerError.filesystem("\(path) is not a \(directory ? "directory" : "regular file")")
        }
        if status.mode & 0o077 != 0 {
            throw ServerError.insecurePermissions(path: path, mode: status.mode)
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
