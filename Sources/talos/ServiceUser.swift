#if canImport(Glibc)
import Glibc
#endif
import CSystemShims
import Foundation

/// `talos serve` reads TLS, HTTP and JSON from the network, so it never runs
/// as root and holds no capability: started as root, it hands its data
/// directory to the service user, gives up root for good and executes
/// itself again, so that no thread keeps anything of root's.
enum ServiceUser {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Returns at once when not root; otherwise never returns: it throws, or
    /// it re-executes this command as the owner of `dataDirectory` (created
    /// for `user` when missing).
    static func dropIfRoot(dataDirectory: String, user: String) throws {
        var (real, effective, saved): (UInt32, UInt32, UInt32) = (0, 0, 0)
        guard talos_getresuid(&real, &effective, &saved) == 0 else { throw Failure(description: "cannot read this process's user ids") }
        guard real == 0 || effective == 0 || saved == 0 else {
            // Started unprivileged: it must also hold no capability (an
            // ambient set or file capabilities would survive otherwise).
            if let held = heldCapabilities() {
                throw Failure(description: "talos serve holds capabilities (\(held)); start it without AmbientCapabilities or file capabilities")
            }
            return
        }
        let (uid, gid) = try owner(of: dataDirectory, user: user)
        guard talos_drop_privileges(UInt32(uid), UInt32(gid)) == 0 else {
            throw Failure(description: "cannot give up root: \(String(cString: strerror(errno)))")
        }
        let arguments = CommandLine.arguments
        var cArguments = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &cArguments)
        cArguments.forEach { free($0) }
        let reason = String(cString: strerror(errno))
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "the talos binary"
        throw Failure(
            description: "cannot execute talos again as \(user): \(reason); \(user) must be able to execute \(binary) "
                + "and read the resource bundles beside it"
        )
    }

    /// The ids to serve as: always `user`'s. An existing data directory must
    /// already be that user's (never someone else's: whoever owns it would
    /// own the server); a missing one is created for it.
    static func owner(of dataDirectory: String, user: String) throws -> (uid_t, gid_t) {
        guard let entry = getpwnam(user), entry.pointee.pw_uid != 0, entry.pointee.pw_gid != 0 else {
            throw Failure(
                description: "refusing to serve as root, and there is no user \(user): create it "
                    + "(`useradd --system --no-create-home --shell /usr/sbin/nologin \(user)`, as `make run` does), "
                    + "or start talos serve as an unprivileged user"
            )
        }
        let (uid, gid) = (entry.pointee.pw_uid, entry.pointee.pw_gid)
        var info = stat()
        if lstat(dataDirectory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw Failure(description: "\(dataDirectory) is not a directory") }
            guard info.st_uid == uid else {
                throw Failure(
                    description: "refusing to serve as root, and \(dataDirectory) does not belong to \(user): give it to that user "
                        + "(`chown -R \(user): \(dataDirectory)`), name its owner with --user, or start talos serve as that user"
                )
            }
            return (uid, gid)
        }
        // Created here, and only here: a directory someone else made first
        // (between the check and mkdir) is refused, not adopted.
        guard mkdir(dataDirectory, 0o700) == 0 else {
            throw Failure(description: "cannot create \(dataDirectory): \(String(cString: strerror(errno)))")
        }
        let descriptor = open(dataDirectory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(description: "cannot open \(dataDirectory) after creating it") }
        defer { close(descriptor) }
        guard fstat(descriptor, &info) == 0, info.st_uid == 0, info.st_mode & 0o7777 == 0o700, fchown(descriptor, uid, gid) == 0 else {
            throw Failure(description: "cannot give \(dataDirectory) to \(user)")
        }
        return (uid, gid)
    }

    /// The capability sets this process holds, or nil when all are empty.
    static func heldCapabilities() -> String? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return "unreadable /proc/self/status" }
        var held: [String] = []
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ["CapInh", "CapPrm", "CapEff", "CapAmb"].contains(parts[0]) else { continue }
            if parts[1].contains(where: { $0 != "0" }) { held.append("\(parts[0]) \(parts[1])") }
        }
        return held.isEmpty ? nil : held.joined(separator: ", ")
    }
}
