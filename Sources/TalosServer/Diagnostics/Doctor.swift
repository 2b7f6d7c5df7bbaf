#if canImport(Glibc)
import Glibc
#endif
import CSystemShims
import Forge
import Foundation
import SwiftASN1
import Synchronization
public import Logging
import TalosCore
import TalosStore
import X509

/// `talos doctor`: checks the host and the installation, one line each, and
/// says how to fix what is wrong.
public struct Doctor: Sendable {
    public enum Level: String, Sendable {
        case ok
        /// Works, but weaker or less convenient than it should be.
        case warn
        /// Something Talos needs is missing or broken.
        case fail
    }

    public struct Check: Sendable {
        public var name: String
        public var level: Level
        public var message: String

        public var line: String {
            "[\(level.rawValue.uppercased())] \(name): \(message)"
        }
    }

    let settings: ServerSettings
    let logger: Logger
    let crunPath: String

    public init(settings: ServerSettings, logger: Logger, crunPath: String = "/usr/bin/crun") {
        self.settings = settings
        self.logger = logger
        self.crunPath = crunPath
    }

    public func run() async -> [Check] {
        var checks: [Check] = []
        checks.append(dataDirectoryCheck())
        checks.append(diskSpaceCheck())
        checks.append(tlsCheck())
        // A check that waits on the network (a database host that does not
        // answer, a loopback that is down) must not hold the others.
        checks.append(await Self.bounded(name: "database", seconds: 15) { await databaseCheck() })
        let cgroups = CgroupLayout.detect()
        checks.append(cgroupCheck(cgroups))
        checks.append(cpuAccountingCheck())
        checks.append(ioThrottleCheck())
        checks.append(userNamespaceCheck())
        checks.append(seccompCheck())
        checks.append(landlockCheck())
        checks.append(await Self.bounded(name: "crun", seconds: 60) { crunCheck(cgroups) })
        checks += runtimeChecks()
        return checks
    }

    /// `check`, or a failure naming it when it has not answered in `seconds`.
    static func bounded(name: String, seconds: Int, _ check: @escaping @Sendable () async -> Check) async -> Check {
        let answer = FirstAnswer()
        return await withCheckedContinuation { continuation in
            answer.set(continuation)
            Task.detached { answer.resume(await check()) }
            Task.detached {
                try? await Task.sleep(for: .seconds(seconds))
                answer.resume(Check(name: name, level: .fail, message: "no answer within \(seconds) s (is the network, or loopback, down?)"))
            }
        }
    }

    /// Resumes a continuation with whichever answer comes first.
    final class FirstAnswer: Sendable {
        private let state = Mutex<CheckedContinuation<Check, Never>?>(nil)

        func set(_ continuation: CheckedContinuation<Check, Never>) {
            state.withLock { $0 = continuation }
        }

        func resume(_ check: Check) {
            state.withLock { $0.take() }?.resume(returning: check)
        }
    }

    /// Which disks boxes' I/O is throttled on; storage with no whole disk
    /// behind it (tmpfs, overlay, a partition's disk unknown) is a stated
    /// fallback, not a failure.
    func ioThrottleCheck(catalog: RuntimeCatalog? = try? RuntimeCatalog.builtIn()) -> Check {
        var work = settings.sandboxWorkDirectory ?? "/run/talos"
        while !FileManager.default.fileExists(atPath: work), work != "/" {
            work = (work as NSString).deletingLastPathComponent
        }
        guard let catalog else { return Check(name: "io throttle", level: .fail, message: "the runtimes catalog cannot be read") }
        let configuration = SandboxConfiguration(stateDirectory: work, workDirectory: work, engineID: "doctor")
        let plan = IOThrottle.plan(paths: SandboxEngine.throttledPaths(configuration: configuration, catalog: catalog))
        return Check(name: "io throttle", level: plan.exceptions.isEmpty ? .ok : .warn, message: plan.summary)
    }

    /// One line per runtime of the catalog: ready, or which package is missing.
    func runtimeChecks(catalog: RuntimeCatalog? = try? RuntimeCatalog.builtIn()) -> [Check] {
        guard let catalog else {
            return [Check(name: "runtimes", level: .fail, message: "the runtimes catalog cannot be read")]
        }
        var checks: [Check] = []
        let tini = "/usr/bin/tini-static"
        if !FileManager.default.fileExists(atPath: tini) {
            checks.append(Check(name: "sandbox init", level: .fail, message: "\(tini) is missing; install the tini package"))
        }
        for runtime in catalog.runtimes {
            let stages = [runtime.run] + (runtime.compile.map { [$0] } ?? [])
            let needed = catalog.libraries.map(\.source) + stages.flatMap { $0.mounts.filter { $0.optional != true }.map(\.source) }
                + stages.compactMap { $0.argv.first }.filter { !$0.hasPrefix("/box/") }
            let missing = needed.filter { !FileManager.default.fileExists(atPath: $0) }
            if missing.isEmpty {
                checks.append(Check(name: "runtime \(runtime.language)", level: .ok, message: "\(runtime.version) ready"))
            } else {
                checks.append(
                    Check(
                        name: "runtime \(runtime.language)", level: .warn,
                        message: "unavailable: \(missing[0]) is missing; install the \(runtime.package) package"
                    )
                )
            }
        }
        return checks
    }

    /// Free space on the data and audit volumes against `storage.min_free_bytes`.
    func diskSpaceCheck() -> Check {
        let paths = [settings.dataDirectory, settings.dataDirectory + "/audit"].filter { FileManager.default.fileExists(atPath: $0) }
        guard !paths.isEmpty else { return Check(name: "disk space", level: .warn, message: "\(settings.dataDirectory) does not exist yet") }
        if let shortage = DiskGuard.check(paths: paths, floorBytes: settings.minimumFreeBytes) {
            return Check(
                name: "disk space", level: .fail,
                message: "\(shortage.path): \(shortage.freeBytes) bytes free, under storage.min_free_bytes (\(shortage.floorBytes)); "
                    + "Talos refuses new work until space is freed"
            )
        }
        let free = paths.compactMap { DiskGuard.freeBytes(at: $0) }.min() ?? 0
        return Check(name: "disk space", level: .ok, message: "\(free >> 20) MiB free on the data and audit volumes")
    }

    func dataDirectoryCheck() -> Check {
        do {
            let directory = try DataDirectory.existing(path: settings.dataDirectory, secretsPath: settings.secretsDirectory)
            return Check(name: "data directory", level: .ok, message: "\(directory.path) and its secrets are private (0700/0600)")
        } catch {
            return Check(name: "data directory", level: .fail, message: "\(error)")
        }
    }

    func tlsCheck() -> Check {
        let certificate: String
        let key: String
        if let certificateFile = settings.tlsCertificateFile, let keyFile = settings.tlsKeyFile {
            (certificate, key) = (certificateFile, keyFile)
        } else {
            certificate = settings.dataDirectory + "/tls/" + DevelopmentCertificate.certificateName
            key = settings.dataDirectory + "/tls/" + DevelopmentCertificate.keyName
        }
        do {
            try DataDirectory.requirePrivate(key, directory: false)
            let pem = String(decoding: try FileSystem.read(certificate), as: UTF8.self)
            let parsed = try DevelopmentCertificate.leafCertificate(inPEM: pem)
            let days = Int(parsed.notValidAfter.timeIntervalSinceNow / 86_400)
            if days < 0 { return Check(name: "tls", level: .fail, message: "\(certificate) has expired") }
            let kind = settings.tlsCertificateFile == nil ? "self-signed development certificate" : "certificate"
            let level: Level = days < 14 || settings.tlsCertificateFile == nil ? .warn : .ok
            let advice = settings.tlsCertificateFile == nil ? "; configure tls.certificate_file for real use" : ""
            return Check(
                name: "tls", level: level,
                message: "\(kind) valid for \(days) more days, key is private; TLS 1.3 only\(advice)"
            )
        } catch {
            return Check(name: "tls", level: .fail, message: "cannot use \(certificate) / \(key): \(error)")
        }
    }

    func databaseCheck() async -> Check {
        do {
            let context = try MaintenanceContext.open(settings: settings, logger: logger)
            defer { Task { await context.close() } }
            try await context.database.ping()
            let migrator = Migrator(database: context.database, logger: logger)
            let applied = try await migrator.appliedVersions()
            let current = applied == migrator.migrations.map(\.version)
            return Check(
                name: "database", level: current ? .ok : .warn,
                message: "\(context.database.dialect.rawValue) reachable; schema version \(applied.last ?? 0) of \(migrator.latestVersion)"
                    + (current ? "" : "; run `talos migrate`")
            )
        } catch {
            return Check(name: "database", level: .fail, message: "\(error)")
        }
    }

    func cgroupCheck(_ layout: CgroupLayout) -> Check {
        switch layout {
        case .v2:
            let report = CgroupV2Report.describe()
            return Check(name: "cgroups", level: report.ready ? .ok : .fail, message: report.message)
        case .v1:
            return Check(name: "cgroups", level: .ok, message: "cgroup v1 controllers (legacy); limits work, v2 is preferred")
        case .hybrid(let v2Controllers):
            if v2Controllers.isEmpty {
                return Check(name: "cgroups", level: .ok, message: "hybrid: v1 controllers, empty cgroup2 at /sys/fs/cgroup/unified")
            }
            return Check(
                name: "cgroups", level: .fail,
                message: "hybrid layout with \(v2Controllers.joined(separator: ",")) on the cgroup2 mount; crun refuses it "
                    + "(\"cgroups in hybrid mode not supported\"). Fix: move them to v1, e.g. "
                    + "`mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb`"
            )
        case .none:
            return Check(name: "cgroups", level: .fail, message: "no cgroup filesystem is mounted; sandbox limits cannot be enforced")
        }
    }

    /// The CPU limit is enforced from the cgroup's accounting; without it
    /// the engine refuses to run (it fails closed), and this says why.
    func cpuAccountingCheck() -> Check {
        if let problem = SandboxEngine.cpuAccountingProblem() {
            return Check(name: "cpu accounting", level: .fail, message: problem + "; the sandbox engine refuses to start")
        }
        return Check(name: "cpu accounting", level: .ok, message: "box CPU time is readable from the cgroup")
    }

    func userNamespaceCheck() -> Check {
        let maximum = Self.readInteger("/proc/sys/user/max_user_namespaces")
        guard let maximum, maximum > 0 else {
            return Check(
                name: "user namespaces", level: .fail,
                message: "disabled (user.max_user_namespaces = \(maximum.map(String.init) ?? "unknown")); set it above 0"
            )
        }
        return Check(name: "user namespaces", level: .ok, message: "available (max \(maximum))")
    }

    func seccompCheck() -> Check {
        guard let actions = try? String(contentsOfFile: "/proc/sys/kernel/seccomp/actions_avail", encoding: .utf8) else {
            return Check(name: "seccomp", level: .fail, message: "the kernel does not offer seccomp filters")
        }
        let available = Set(actions.split(whereSeparator: \.isWhitespace).map(String.init))
        let needed: Set = ["errno", "kill_process", "allow"]
        let missing = needed.subtracting(available)
        if !missing.isEmpty {
            return Check(name: "seccomp", level: .fail, message: "missing actions: \(missing.sorted().joined(separator: ", "))")
        }
        let logs = available.contains("log") ? "; violations can be logged" : ""
        return Check(name: "seccomp", level: .ok, message: "filter mode available\(logs)")
    }

    func landlockCheck() -> Check {
        let abi = talos_landlock_abi_version()
        if abi > 0 {
            return Check(name: "landlock", level: .ok, message: "ABI version \(abi)")
        }
        return Check(
            name: "landlock", level: .warn,
            message: "not available (\(String(cString: strerror(errno)))); sandboxes rely on namespaces and seccomp alone"
        )
    }

    func crunCheck(_ layout: CgroupLayout) -> Check {
        guard FileManager.default.isExecutableFile(atPath: crunPath) else {
            return Check(name: "crun", level: .fail, message: "\(crunPath) not found; install it with `apt-get install crun`")
        }
        let version = Self.run([crunPath, "--version"]).output.split(separator: "\n").first.map(String.init) ?? "unknown version"
        switch CrunProbe.run(crunPath: crunPath) {
        case .success:
            return Check(name: "crun", level: .ok, message: "\(version); started a user-namespaced container")
        case .failure(let message):
            return Check(name: "crun", level: .fail, message: "\(version) cannot start a container: \(message)")
        }
    }

    static func readInteger(_ path: String) -> Int? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingWhitespace) }
    }

    static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        HostCommand.run(arguments)
    }
}

/// How the host mounts cgroups.
enum CgroupLayout: Equatable {
    case v2
    case v1
    /// v1 controllers plus a cgroup2 mount holding these controllers.
    case hybrid(v2Controllers: [String])
    case none

    static func detect(mounts: String? = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) -> CgroupLayout {
        guard let mounts else { return .none }
        var hasV1 = false
        var v2Path: String?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            if fields[2] == "cgroup" { hasV1 = true }
            if fields[2] == "cgroup2" { v2Path = String(fields[1]) }
        }
        switch (hasV1, v2Path) {
        case (false, nil): return .none
        case (false, .some): return .v2
        case (true, nil): return .v1
        case (true, let path?):
            let controllers = (try? String(contentsOfFile: path + "/cgroup.controllers", encoding: .utf8)) ?? ""
            return .hybrid(v2Controllers: controllers.split(whereSeparator: \.isWhitespace).map(String.init))
        }
    }
}
