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
        guard geteuid() == 0 || getuid() == 0 else { return }
        let (uid, gid) = try owner(of: dataDirectory, user: user)
        guard talos_drop_privileges(UInt32(uid), UInt32(gid)) == 0 else {
            throw Failure(description: "cannot give up root: \(String(cString: strerror(errno)))")
        }
        let arguments = CommandLine.arguments
        var cArguments = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &cArguments)
        cArguments.forEach { free($0) }
        throw Failure(description: "cannot execute talos again as \(user): \(String(cString: strerror(errno)))")
    }

    /// The ids to serve as: the owner of an existing data directory (never
    /// root), or `user`, for whom a missing one is created.
    static func owner(of dataDirectory: String, user: String) throws -> (uid_t, gid_t) {
        var info = stat()
        if lstat(dataDirectory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw Failure(description: "\(dataDirectory) is not a directory") }
            guard info.st_uid != 0 else {
                throw Failure(
                    description: "refusing to serve as root, and \(dataDirectory) belongs to root: give it to the service user "
                        + "(`chown -R \(user): \(dataDirectory)`), or start talos serve as that user"
                )
            }
            let group = getpwuid(info.st_uid).map { $0.pointee.pw_gid } ?? info.st_gid
            guard group != 0 else { throw Failure(description: "the owner of \(dataDirectory) has root's group") }
            return (info.st_uid, group)
        }
        guard let entry = getpwnam(user), entry.pointee.pw_uid != 0, entry.pointee.pw_gid != 0 else {
            throw Failure(
                description: "refusing to serve as root, and there is no user \(user): create it "
                    + "(`useradd --system --no-create-home --shell /usr/sbin/nologin \(user)`, as `make run` does), "
                    + "or start talos serve as an unprivileged user"
            )
        }
        let (uid, gid) = (entry.pointee.pw_uid, entry.pointee.pw_gid)
        guard mkdir(dataDirectory, 0o700) == 0 || errno == EEXIST else {
            throw Failure(description: "cannot create \(dataDirectory): \(String(cString: strerror(errno)))")
        }
        guard lstat(dataDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, lchown(dataDirectory, uid, gid) == 0 else {
            throw Failure(description: "cannot give \(dataDirectory) to \(user)")
        }
        return (uid, gid)
    }
}
