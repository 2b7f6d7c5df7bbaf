import Foundation

extension SandboxEngine {
    struct BoxConfig {
        var json: [String: Any]
        var mountPoints: [(destination: String, isFile: Bool)]
    }

    /// The OCI configuration of one box, as DESIGN.md's Forge section lists:
    /// all namespaces with the user namespace mapped to an unprivileged host
    /// range, empty read-only root, read-only toolchains, size-capped tmpfs,
    /// masked `/proc`, no capabilities, no new privileges, rlimits, the
    /// default-deny seccomp profile and cgroup limits.
    func boxConfig(
        spec: StageSpec, limits: SandboxLimits, bundle: BoxBundle, outputMount: OutputMount, outputDirectory: String?,
        boxID: String, cgroupPath: String, hostIDBase: Int, libraries: [ToolchainMount]
    ) throws -> BoxConfig {
        let readOnly = ["rbind", "ro", "nosuid", "nodev"]
        var mounts: [[String: Any]] = [
            ["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=64k"]],
            ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=1024k"]],
            [
                "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", "mode=1777", "size=\(limits.tmpfsMiB)m", "nr_inodes=4096"],
            ],
            [
                "destination": "/box", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", "mode=0755", "uid=\(BoxBundle.boxUser)", "gid=\(BoxBundle.boxUser)", "size=\(limits.tmpfsMiB)m", "nr_inodes=4096"],
            ],
            ["destination": "/.talos/init", "type": "bind", "source": configuration.initPath, "options": readOnly],
            ["destination": "/.talos/launch", "type": "bind", "source": configuration.launcherPath, "options": readOnly],
            ["destination": "/.talos/job", "type": "bind", "source": bundle.job, "options": readOnly],
            ["destination": "/src", "type": "bind", "source": bundle.sources, "options": readOnly],
        ]
        var points: [(String, Bool)] = [
            ("/proc", false), ("/dev", false), ("/tmp", false), ("/box", false), ("/.talos/init", true), ("/.talos/launch", true),
            ("/.talos/job", false), ("/src", false),
        ]
        for name in ["hosts", "passwd", "group", "nsswitch.conf"] {
            mounts.append(["destination": "/etc/" + name, "type": "bind", "source": etcDirectory + "/" + name, "options": readOnly])
            points.append(("/etc/" + name, true))
        }
        for mount in catalog.libraries + libraries + spec.mounts where mount.isPresent {
            mounts.append(["destination": mount.destination, "type": "bind", "source": mount.source, "options": readOnly])
            points.append((mount.destination, mount.file ?? false))
        }
        switch outputMount {
        case .none: break
        case .writable:
            if let outputDirectory {
                mounts.append(["destination": "/box/out", "type": "bind", "source": outputDirectory, "options": ["rbind", "rw", "nosuid", "nodev"]])
            }
        case .readOnly(let directory):
            mounts.append(["destination": "/box/bin", "type": "bind", "source": directory, "options": readOnly])
        }
        let cpuSeconds = max(1, (limits.cpuMilliseconds + 999) / 1000)
        let fileBytes = limits.tmpfsMiB * 1024 * 1024
        let config: [String: Any] = [
            "ociVersion": "1.0.2",
            "hostname": "box",
            "root": ["path": "rootfs", "readonly": true],
            "process": [
                "terminal": false,
                "user": ["uid": BoxBundle.boxUser, "gid": BoxBundle.boxUser, "additionalGids": [Int](), "umask": 18],
                // The command line is the job's, written after the box is
                // created (it may wait in the pool): the launcher reads it.
                "args": ["/.talos/init", "-g", "--", "/.talos/launch"],
                "env": spec.env,
                "cwd": "/box",
                "capabilities": ["bounding": [String](), "effective": [String](), "inheritable": [String](), "permitted": [String](), "ambient": [String]()],
                "noNewPrivileges": true,
                "oomScoreAdj": 1000,
                "rlimits": [
                    ["type": "RLIMIT_NOFILE", "hard": limits.openFiles, "soft": limits.openFiles],
                    ["type": "RLIMIT_FSIZE", "hard": fileBytes, "soft": fileBytes],
                    ["type": "RLIMIT_CORE", "hard": 0, "soft": 0],
                    ["type": "RLIMIT_CPU", "hard": cpuSeconds + 1, "soft": cpuSeconds],
                    ["type": "RLIMIT_STACK", "hard": 64 * 1024 * 1024, "soft": 8 * 1024 * 1024],
                ],
            ],
            "mounts": mounts,
            "linux": [
                "namespaces": ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"].map { ["type": $0] },
                "uidMappings": [["containerID": 0, "hostID": hostIDBase, "size": BoxBundle.idRangeSize]],
                "gidMappings": [["containerID": 0, "hostID": hostIDBase, "size": BoxBundle.idRangeSize]],
                "cgroupsPath": cgroupPath,
                "resources": cgroupResources(limits),
                "maskedPaths": [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/sysrq-trigger",
                ],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
                "seccomp": seccompProfile(box: boxID),
            ],
        ]
        return BoxConfig(json: config, mountPoints: points)
    }

    /// The cgroup limits of a box: at creation, and for `crun update` when a
    /// pooled box takes a job that asked for others.
    func cgroupResources(_ limits: SandboxLimits) -> [String: Any] {
        let memoryBytes = limits.memoryMiB * 1024 * 1024
        let throttle = ioThrottle.disks.map { ["major": $0.major, "minor": $0.minor, "rate": limits.ioBytesPerSecond] }
        var resources: [String: Any] = [
            "devices": [["allow": false, "access": "rwm"]],
            // Memory and swap together equal to memory: no swap (memory.swap.max = 0 on v2).
            "memory": ["limit": memoryBytes, "swap": memoryBytes],
            "pids": ["limit": limits.pids],
            "cpu": ["quota": 1000 * limits.cpuPercent, "period": 100_000],
        ]
        if !throttle.isEmpty {
            resources["blockIO"] = ["throttleReadBpsDevice": throttle, "throttleWriteBpsDevice": throttle]
        }
        return resources
    }

    /// The profile with this engine's agent as the listener of its
    /// `SCMP_ACT_NOTIFY` rules, and the box named so refusals are its own.
    func seccompProfile(box: String) -> [String: Any] {
        var profile = seccomp.value
        profile["listenerPath"] = seccompAgent.socketPath
        profile["listenerMetadata"] = box
        return profile
    }
}
