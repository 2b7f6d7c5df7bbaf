#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TalosCore

/// Secrets come from files in one directory (`DATA_DIR/secrets`, or
/// `/run/secrets` in containers) and from nowhere else.
public struct SecretStore: Sendable {
    public let directory: String

    /// Names of the secrets Talos knows.
    public enum Name: String, CaseIterable, Sendable {
        /// 256-bit key-encryption key at the root of the key hierarchy.
        case masterKey = "master_key"
        /// Ed25519 key that signs audit checkpoints.
        case auditSigningKey = "audit_signing_key"
        /// PostgreSQL password, when the URL names a PostgreSQL server.
        case databasePassword = "database_password"
    }

    public init(directory: String) {
        self.directory = directory
    }

    /// Refuses the directory or any file in it that group or others can read.
    public func checkPermissions() throws {
        guard let status = try FileSystem.status(directory) else { return }
        guard status.isDirectory, !status.isSymlink else {
            throw ServerError.filesystem("secrets directory \(directory) is not a directory")
        }
        if status.mode & 0o077 != 0 {
            throw ServerError.insecurePermissions(path: directory, mode: status.mode)
        }
        guard let handle = opendir(directory) else {
            throw SystemCallError(call: "opendir", errno: errno)
        }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            let path = directory + "/" + name
            guard let file = try FileSystem.status(path) else { continue }
            if file.isSymlink {
                // Docker and Kubernetes mount secrets through links; judge the target.
                let mode = try FileSystem.followedMode(path)
                if mode & 0o077 != 0 {
                    throw ServerError.insecurePermissions(path: path, mode: mode)
                }
            } else if file.mode & 0o077 != 0 {
                throw ServerError.insecurePermissions(path: path, mode: file.mode)
            }
        }
    }

    /// The secret's bytes, or nil when the file does not exist.
    /// Follows a link inside the secrets directory (Docker and Kubernetes
    /// mount secrets that way) and judges what was actually opened.
    public func read(_ name: Name) throws -> Secret<[UInt8]>? {
        let path = directory + "/" + name.rawValue
        guard try FileSystem.status(path) != nil else { return nil }
        return Secret(try FileSystem.readPrivate(path, limit: 64 * 1024))
    }

    /// A base64-encoded random key of `byteCount` bytes, created 0600 on first use.
    public func key(_ name: Name, byteCount: Int, createIfMissing: Bool) throws -> Secret<[UInt8]> {
        if createIfMissing, try FileSystem.status(directory + "/" + name.rawValue) == nil {
            let encoded = Data(FileSystem.randomBytes(byteCount)).base64EncodedString() + "\n"
            do {
                try FileSystem.createExclusive(directory + "/" + name.rawValue, contents: Array(encoded.utf8), mode: 0o600)
            } catch let error as SystemCallError where error.errno == EEXIST {}
        }
        guard let raw = try read(name) else {
            throw ServerError.missingSecret(name.rawValue, directory: directory)
        }
        let text = String(decoding: raw.unsafeValue, as: UTF8.self).trimmingWhitespace
        guard let bytes = Data(base64Encoded: text), bytes.count == byteCount else {
            throw ServerError.invalidSecret(name.rawValue, "expected \(byteCount) random bytes, base64-encoded")
        }
        return Secret(Array(bytes))
    }

    /// A text secret such as a password, trailing newline removed.
    public func text(_ name: Name) throws -> Secret<String>? {
        guard let raw = try read(name) else { return nil }
        let text = String(decoding: raw.unsafeValue, as: UTF8.self)
        let trimmed = text.hasSuffix("\r\n") ? String(text.dropLast(2)) : text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard !trimmed.isEmpty else { throw ServerError.invalidSecret(name.rawValue, "the file is empty") }
        return Secret(trimmed)
    }

    /// Refuses any `TALOS_*` environment variable that names a secret.
    public static func refuseSecrets(inEnvironment environment: [String: String]) throws {
        for name in environment.keys.sorted() where name.uppercased().hasPrefix("TALOS_") {
            if isSecretName(name) { throw ServerError.secretInEnvironment(name) }
        }
    }

    /// True for names that denote secret material in any configuration source.
    /// Names ending in `_DIR`, `_FILE` or `_PATH` are locations, not secrets.
    static func isSecretName(_ name: String) -> Bool {
        let upper = name.uppercased()
        if ["_DIR", "_FILE", "_PATH"].contains(where: { upper.hasSuffix($0) }) { return false }
        let markers = ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "MASTER_KEY", "PRIVATE_KEY", "SIGNING_KEY", "API_KEY", "CREDENTIAL"]
        return markers.contains { upper.contains($0) }
    }
}
