#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import TalosCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The append-only JSON Lines mirror of the audit chain in `DATA_DIR/audit/`.
///
/// Opened `O_APPEND | O_NOFOLLOW`, 0600. The writer holds an exclusive
/// `flock` from before its database transaction until its lines are written
/// and `fsync`ed after the commit, so processes sharing a data directory keep
/// the file in chain order, and the file never holds a record the database
/// rolled back.
public final class AuditFileSink: Sendable {
    public let path: String
    private let descriptor: Int32

    public init(path: String) throws {
        self.path = path
        self.descriptor = try systemCall("open") {
            open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
    }

    deinit {
        close(descriptor)
    }

    /// Takes the cross-process lock on the file; pair with ``unlock()``.
    public func lock() throws {
        try systemCall("flock") { flock(descriptor, LOCK_EX) }
    }

    public func unlock() {
        _ = flock(descriptor, LOCK_UN)
    }

    /// Appends and fsyncs `records`; call while holding ``lock()``. A failed
    /// write is cut back off, so the file never ends in half a line.
    public func append(_ records: [AuditRecord]) throws {
        guard !records.isEmpty else { return }
        var bytes: [UInt8] = []
        for record in records {
            bytes += try AuditSeal.line(for: record)
        }
        let start = lseek(descriptor, 0, SEEK_END)
        do {
            var offset = 0
            while offset < bytes.count {
                let written = try bytes.withUnsafeBytes { buffer in
                    try systemCall("write") {
                        write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    }
                }
                offset += written
            }
            try systemCall("fsync") { fsync(descriptor) }
        } catch {
            if start >= 0 { _ = ftruncate(descriptor, start) }
            throw error
        }
    }

    /// The position of the last record in the file, 0 when empty.
    public func lastSequence() throws -> Int64 {
        guard let last = try Self.readLines(path: path).last,
            let record = try? AuditSeal.decoder.decode(AuditRecord.self, from: Data(last.utf8))
        else { return 0 }
        return record.seq
    }

    /// Reads every line of the file at `path` (without following a final
    /// symlink); a missing file reads as empty.
    public static func readLines(path: String) throws -> [String] {
        let descriptor: Int32
        do {
            descriptor = try systemCall("open") { open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        } catch let error as SystemCallError where error.errno == ENOENT {
            return []
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                try systemCall("read") { read(descriptor, buffer.baseAddress, buffer.count) }
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}
