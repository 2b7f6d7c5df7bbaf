import Foundation
import Synchronization

/// Watches free space on the volumes Talos writes to (data and audit) and
/// says when it falls under the configured floor, so Talos refuses new work
/// with 503 before a full disk makes a write fail half way. The reading is
/// cached for a second: the check sits on every request that writes.
final class DiskGuard: Sendable {
    struct Shortage: Sendable, Equatable {
        var path: String
        var freeBytes: Int64
        var floorBytes: Int64
    }

    let paths: [String]
    let floorBytes: Int64
    private let cached = Mutex<(at: ContinuousClock.Instant, shortage: Shortage?)?>(nil)

    init(paths: [String], floorBytes: Int64) {
        self.paths = paths
        self.floorBytes = floorBytes
    }

    /// The first watched volume under the floor (or unreadable), or nil.
    func shortage(now: ContinuousClock.Instant = .now) -> Shortage? {
        if let last = cached.withLock({ $0 }), now - last.at < .seconds(1) { return last.shortage }
        let found = Self.check(paths: paths, floorBytes: floorBytes)
        cached.withLock { $0 = (now, found) }
        return found
    }

    static func check(paths: [String], floorBytes: Int64) -> Shortage? {
        for path in paths {
            // An unreadable volume counts as full: fail closed.
            let free = freeBytes(at: path) ?? 0
            if free < floorBytes { return Shortage(path: path, freeBytes: free, floorBytes: floorBytes) }
        }
        return nil
    }

    /// Bytes an unprivileged writer may still use on the volume holding `path`.
    static func freeBytes(at path: String) -> Int64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        let (bytes, overflow) = Int64(clamping: stats.f_bavail).multipliedReportingOverflow(by: Int64(clamping: stats.f_frsize))
        return overflow ? Int64.max : bytes
    }
}
