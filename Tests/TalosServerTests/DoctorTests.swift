import Foundation
import Forge
@testable import TalosServer
import Logging
import Testing

@Suite("Doctor")
struct DoctorTests {
    @Test("cgroup layouts are told apart, and the hybrid quirk is recognised")
    func cgroupLayouts() {
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"
        let v1 = "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\ncgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n"
        #expect(CgroupLayout.detect(mounts: v2) == .v2)
        #expect(CgroupLayout.detect(mounts: v1) == .v1)
        #expect(CgroupLayout.detect(mounts: "proc /proc proc rw 0 0\n") == .none)
        let hybrid = v1 + "cgroup2 /nonexistent/unified cgroup2 rw 0 0\n"
        #expect(CgroupLayout.detect(mounts: hybrid) == .hybrid(v2Controllers: []))
    }

    @Test("the hybrid quirk fails the check and names the fix")
    func hybridAdvice() {
        let doctor = Doctor(settings: ServerSettings(), logger: .init(label: "test"))
        let check = doctor.cgroupCheck(.hybrid(v2Controllers: ["hugetlb"]))
        #expect(check.level == .fail)
        #expect(check.message.contains("mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb"))
        #expect(doctor.cgroupCheck(.hybrid(v2Controllers: [])).level == .ok)
    }

    @Test("cgroup v2: root, a delegated service or namespace, and a cgroup without delegation are told apart")
    func cgroupV2Delegation() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-cgroup-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func cgroup(_ path: String, controllers: String, isRoot: Bool = false) throws {
            try FileManager.default.createDirectory(atPath: root + path, withIntermediateDirectories: true)
            try Data(controllers.utf8).write(to: URL(fileURLWithPath: root + path + "/cgroup.controllers"))
            try Data().write(to: URL(fileURLWithPath: root + path + "/cgroup.subtree_control"))
            if !isRoot { try Data("domain\n".utf8).write(to: URL(fileURLWithPath: root + path + "/cgroup.type")) }
        }
        try cgroup("", controllers: "cpuset cpu io memory pids\n", isRoot: true)
        try cgroup("/system.slice/talos.service", controllers: "cpu io memory pids\n")
        try cgroup("/system.slice/plain.service", controllers: "cpu\n")

        let atRoot = CgroupV2Report.describe(root: root, membership: "0::/\n")
        #expect(atRoot.ready && atRoot.message.contains("root"))
        let service = CgroupV2Report.describe(root: root, membership: "0::/system.slice/talos.service\n")
        #expect(service.ready && service.message.contains("delegated") && service.message.contains("talos-supervisor"), "\(service.message)")
        let moved = CgroupV2Report.describe(root: root, membership: "0::/system.slice/talos.service/talos-supervisor\n")
        #expect(moved.ready && moved.message.contains("/system.slice/talos.service "), "a restarted engine looks past its own leaf")
        let plain = CgroupV2Report.describe(root: root, membership: "0::/system.slice/plain.service\n")
        #expect(!plain.ready && plain.message.contains("without delegation") && plain.message.contains("memory, pids"), "\(plain.message)")
        #expect(plain.message.contains("Delegate=yes"))
        #expect(Doctor(settings: ServerSettings(), logger: .init(label: "test")).cgroupCheck(.v1).level == .ok)
    }

    @Test("a whole doctor run answers, explains this host's cgroups and I/O throttle, with loopback up or down")
    func wholeRun() async throws {
        var settings = ServerSettings()
        settings.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: settings.dataDirectory) }
        let checks = await Doctor(settings: settings, logger: .init(label: "test")).run()
        let cgroups = try #require(checks.first { $0.name == "cgroups" })
        #expect(cgroups.level == .ok, "\(cgroups.line)")
        let throttle = try #require(checks.first { $0.name == "io throttle" })
        #expect(throttle.level != .fail && !throttle.message.isEmpty, "\(throttle.line)")
        #expect(checks.first { $0.name == "crun" }?.level == .ok)
        #expect(checks.allSatisfy { !$0.line.contains("\n") })
    }

    @Test("this host's checks each produce one line")
    func hostChecks() async {
        let doctor = Doctor(settings: ServerSettings(), logger: .init(label: "test"))
        #expect(doctor.seccompCheck().level == .ok)
        #expect(doctor.userNamespaceCheck().level == .ok)
        for check in [doctor.seccompCheck(), doctor.userNamespaceCheck(), doctor.landlockCheck()] {
            #expect(!check.line.contains("\n"))
            #expect(check.line.hasPrefix("[OK]") || check.line.hasPrefix("[WARN]") || check.line.hasPrefix("[FAIL]"))
        }
        let missing = Doctor(settings: ServerSettings(), logger: .init(label: "test"), crunPath: "/nonexistent/crun")
        #expect(missing.crunCheck(.v2).level == .fail)
    }

    @Test("every runtime of the catalog is listed, with the package to install when missing")
    func runtimes() throws {
        let doctor = Doctor(settings: ServerSettings(), logger: .init(label: "test"))
        let checks = doctor.runtimeChecks()
        #expect(Set(checks.map(\.name)).isSuperset(of: ["runtime python", "runtime javascript", "runtime go", "runtime rust", "runtime c", "runtime cpp"]))
        #expect(checks.filter { $0.name.hasPrefix("runtime") }.allSatisfy { $0.level == .ok }, "make test installs every toolchain")
        var catalog = try RuntimeCatalog.builtIn()
        catalog.runtimes[0].run.mounts.append(.init(source: "/nonexistent/toolchain", destination: "/opt/x"))
        let missing = doctor.runtimeChecks(catalog: catalog).first { $0.name == "runtime \(catalog.runtimes[0].language)" }
        #expect(missing?.level == .warn)
        #expect(missing?.message.contains("install the \(catalog.runtimes[0].package) package") == true)
    }
}

@Suite("Rate-limit identities")
struct RateLimitIdentityTests {
    @Test("empty path segments cannot move a credential route to a looser bucket", arguments: [
        "/v1/auth/login", "/v1//auth/login", "//v1/auth//login", "/v1/auth/login/", "//oauth2/token",
    ])
    func doubleSlashes(_ path: String) {
        #expect(RateLimitMiddleware.group(forPath: path) == .auth)
    }

    @Test("IPv6 clients are limited per /64, IPv4 per address")
    func bucketKeys() {
        #expect(ClientAddress.bucketKey("203.0.113.9") == "203.0.113.9")
        #expect(ClientAddress.bucketKey("2001:db8:1:2:aaaa::1") == ClientAddress.bucketKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"))
        #expect(ClientAddress.bucketKey("2001:db8:1:2::1") != ClientAddress.bucketKey("2001:db8:1:3::1"))
        #expect(ClientAddress.bucketKey("::1") == "0:0:0:0::/64")
    }

    @Test("a flood of new clients never resets a drained bucket")
    func eviction() {
        var settings = RateLimitSettings()
        settings[.auth] = .init(burst: 2, perMinute: 1)
        let limiter = RateLimiter(settings: settings, maximumKeys: 50)
        let now = ContinuousClock.now
        #expect(limiter.check(group: .auth, key: "attacker", now: now) == .allow)
        #expect(limiter.check(group: .auth, key: "attacker", now: now) == .allow)
        #expect(limiter.check(group: .auth, key: "attacker", now: now) != .allow)
        for index in 0..<500 { _ = limiter.check(group: .auth, key: "filler-\(index)", now: now) }
        #expect(limiter.check(group: .auth, key: "attacker", now: now) != .allow)
    }
}

@Suite("Client addresses")
struct ClientAddressTests {
    @Test("IPv4 clients of a `::` listener are keyed by their IPv4 address, not one shared /64")
    func ipv4Mapped() {
        #expect(ClientAddress.bucketKey("::ffff:203.0.113.7") == "203.0.113.7")
        #expect(ClientAddress.bucketKey("::FFFF:203.0.113.8") == "203.0.113.8")
        #expect(ClientAddress.bucketKey("0:0:0:0:0:ffff:203.0.113.9") == "203.0.113.9")
        #expect(ClientAddress.bucketKey("::ffff:203.0.113.7") != ClientAddress.bucketKey("::ffff:203.0.113.8"))
        // Not mapped: ordinary IPv6 stays by /64, junk never becomes an IPv4 key.
        #expect(ClientAddress.bucketKey("2001:db8::ffff:1.2.3.4").hasSuffix("::/64"))
        #expect(ClientAddress.bucketKey("::ffff:1.2.3.999").hasSuffix("::/64"))
        #expect(ClientAddress.bucketKey("::ffff:1.2.3").hasSuffix("::/64"))
        #expect(ClientAddress.bucketKey("2001:db8:1:2:3:4:5:6") == ClientAddress.bucketKey("2001:db8:1:2:ffff::1"))
        #expect(ClientAddress.bucketKey(String(repeating: "f", count: 45) + ":1").hasSuffix("::/64"), "long groups do not trap")
    }
}

@Suite("CPU accounting")
struct CPUAccountingCheckTests {
    @Test("this host's CPU accounting is readable, so the engine may start, and doctor says so")
    func hostAccounting() {
        #expect(SandboxEngine.cpuAccountingProblem() == nil)
        let doctor = Doctor(settings: ServerSettings(), logger: .init(label: "test"))
        #expect(doctor.cpuAccountingCheck().level == .ok)
    }
}
