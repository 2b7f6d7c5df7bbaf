#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TalosCore

/// Starts one throwaway container the way Forge does (user namespace, empty
/// read-only root, `/usr` bound read-only, no capabilities) and runs `true`,
/// to prove the host can sandbox before any code is accepted.
enum CrunProbe {
    enum Outcome: Equatable {
        case success
        case failure(String)
    }

    static func run(crunPath: String) -> Outcome {
        var template = Array("/tmp/talos-doctor-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { return .failure("cannot create a temporary bundle") }
        let bundle = String(cString: created)
        defer { _ = try? FileManager.default.removeItem(atPath: bundle) }
        let rootfs = bundle + "/rootfs"
        let state = bundle + "/state"
        let id = "talos-doctor-" + Hex.encode(FileSystem.randomBytes(6))
        do {
            chmod(bundle, 0o755)
            try FileSystem.makeDirectory(rootfs, mode: 0o755)
            try FileSystem.makeDirectory(state, mode: 0o700)
            // Mount points must exist: the root is read-only to the container.
            for mountPoint in ["proc", "usr", "dev"] {
                try FileSystem.makeDirectory(rootfs + "/" + mountPoint, mode: 0o755)
            }
            for (link, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")] {
                try systemCall("symlink") { symlink(target, rootfs + "/" + link) }
            }
            try FileSystem.createExclusive(bundle + "/config.json", contents: Array(config.utf8), mode: 0o644)
        } catch {
            return .failure("cannot write the bundle: \(error)")
        }
        let result = Doctor.run([crunPath, "--root", state, "run", "--bundle", bundle, id])
        _ = Doctor.run([crunPath, "--root", state, "delete", "--force", id])
        if result.status == 0 { return .success }
        let message = result.output.split(separator: "\n").last.map(String.init) ?? "exit status \(result.status)"
        return .failure(message)
    }

    static let config = """
        {
          "ociVersion": "1.0.2",
          "process": {
            "terminal": false,
            "user": {"uid": 65534, "gid": 65534},
            "args": ["/usr/bin/true"],
            "env": ["PATH=/usr/bin"],
            "cwd": "/",
            "capabilities": {"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []},
            "noNewPrivileges": true,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 64, "soft": 64}]
          },
          "root": {"path": "rootfs", "readonly": true},
          "hostname": "talos-doctor",
          "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "mode=755", "size=64k"]},
            {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro", "nosuid", "nodev"]}
          ],
          "linux": {
            "uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
            "namespaces": [
              {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
              {"type": "mount"}, {"type": "user"}, {"type": "cgroup"}
            ],
            "cgroupsPath": "talos/doctor",
            "resources": {"pids": {"limit": 16}, "memory": {"limit": 33554432}},
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
          }
        }
        """
}
