import Citadel
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOSSL
import TalosTestSupport
import Testing

/// The network-facing process holds nothing of root's, and only the worker
/// runs code: checked on the real binaries, started as root like `make run`.
@Suite("Privilege separation", .serialized)
struct PrivilegeSeparationTests {
    /// The service user `make run` creates; created here the same way when missing.
    static func serviceUser() throws -> (uid: UInt32, gid: UInt32) {
        if passwdEntry("talos") == nil {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/useradd")
            process.arguments = ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "talos"]
            try process.run()
            process.waitUntilExit()
        }
        guard let entry = passwdEntry("talos") else { throw TestSetupError("no user talos") }
        return entry
    }

    /// From /etc/passwd (getpwnam shares one buffer between the threads of
    /// suites that run side by side).
    static func passwdEntry(_ name: String) -> (uid: UInt32, gid: UInt32)? {
        let text = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > 3, fields[0] == name, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) { return (uid, gid) }
        }
        return nil
    }

    static func statusFields(_ pid: Int32) throws -> [String: String] {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    @Test("talos serve started as root serves as the service user with no capabilities; a request cannot start a box, the worker runs it")
    func serveUnprivileged() async throws {
        try #require(getuid() == 0, "the test starts talos serve as root, as make run does")
        let (uid, gid) = try Self.serviceUser()
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o711)
        let data = directory + "/data"
        let (server, greeting) = try TalosBinary.serve(dataDirectory: data)
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        #expect(greeting.contains("Talos is listening"), "\(greeting)")

        // Ids and capability sets of the serving process.
        let status = try Self.statusFields(server.processIdentifier)
        let ids = { (name: String) in status[name]?.split(whereSeparator: \.isWhitespace).map(String.init) ?? [] }
        #expect(ids("Uid") == Array(repeating: String(uid), count: 4), "\(status["Uid"] ?? "")")
        #expect(ids("Gid") == Array(repeating: String(gid), count: 4), "\(status["Gid"] ?? "")")
        #expect(ids("Groups").isEmpty, "no supplementary groups: \(status["Groups"] ?? "")")
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(status[set] == "0000000000000000", "\(set) \(status[set] ?? "missing")")
        }
        #expect(status["NoNewPrivs"] == "1")
        let owner = try FileManager.default.attributesOfItem(atPath: data)[.ownerAccountID] as? NSNumber
        #expect(owner?.uint32Value == uid, "the new data directory belongs to the service user")

        // Through HTTP: a super admin (CLI bootstrap, TOTP), an owner, and
        // one execution, which stays queued while no worker runs.
        let portText = greeting.split(separator: "\n").first { $0.contains("listening on https://") }?
            .split(separator: ":").last?.split(separator: " ").first
        let port = try #require(portText.flatMap { Int($0) })
        let client = try BinaryClient(port: port, caFile: data + "/tls/dev-ca.pem")
        let bootstrap = try Self.talos(["admin", "create", "--email", "root@example.com", "--data-dir", data])
        let enrollment = try #require(bootstrap.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.count == 43 })
        let password = IdentityClient.strongPassword
        #expect(try await client.call(.post, "/v1/auth/accept-invitation", json: ["token": enrollment, "password": password]).status == .ok)
        let first = try await client.call(.post, "/v1/auth/login", json: ["email": "root@example.com", "password": password])
        let firstToken = try #require(first["access_token"], "\(first.text)")
        let started = try await client.call(.post, "/v1/me/mfa/totp", token: firstToken)
        let secret = try #require(started["secret"], "\(started.text)")
        let totp = TOTP(secret: Base32Decoder.decode(secret))
        let confirmStep = TOTP.step(at: Date())
        let confirmed = try await client.call(.post, "/v1/me/mfa/totp/confirm", token: firstToken, json: ["code": totp.code(step: confirmStep)])
        #expect(confirmed.status == .ok, "\(confirmed.text)")
        // A code is good once: the next sign-in waits for the next step.
        while TOTP.step(at: Date()) <= confirmStep { try await Task.sleep(for: .milliseconds(200)) }
        let challenge = try await client.call(.post, "/v1/auth/login", json: ["email": "root@example.com", "password": password])
        let mfaToken = try #require(challenge["mfa_token"], "\(challenge.text)")
        let signedIn = try await client.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": mfaToken, "code": totp.code(step: TOTP.step(at: Date()))])
        let adminToken = try #require(signedIn["access_token"], "\(signedIn.text)")
        let invitation = try await client.call(.post, "/v1/invitations", token: adminToken, json: ["email": "owner@example.com", "role": "owner"])
        let invitationToken = try #require(invitation["token"], "\(invitation.text)")
        #expect(try await client.call(.post, "/v1/auth/accept-invitation", json: ["token": invitationToken, "password": password]).status == .ok)
        let ownerLogin = try await client.call(.post, "/v1/auth/login", json: ["email": "owner@example.com", "password": password])
        let ownerToken = try #require(ownerLogin["access_token"], "\(ownerLogin.text)")
        let queued = try await client.call(.post, "/v1/executions", token: ownerToken, json: ["language": "python", "source": "import os\nprint(6*7)\n"])
        #expect(queued.status == .accepted, "\(queued.text)")
        let id = try #require(queued["id"])
        let pending = try await client.call(.get, "/v1/executions/\(id)", token: ownerToken)
        #expect(pending["status"] == "queued", "no worker runs yet, and the server runs none: \(pending.text)")
        #expect(Self.children(of: server.processIdentifier).isEmpty, "the server started no process")

        // The worker, as root, takes the job; it listens on no socket.
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: TalosBinary.path)
        worker.arguments = ["worker", "--data-dir", data, "--name", "privsep"]
        worker.environment = ["TALOS_METRICS_ENABLED": "false", "PATH": "/usr/bin:/bin"]
        worker.standardOutput = FileHandle.nullDevice
        worker.standardError = FileHandle.nullDevice
        try worker.run()
        defer {
            worker.terminate()
            worker.waitUntilExit()
        }
        var finished = pending
        for _ in 0..<1200 where !["completed", "failed", "cancelled"].contains(finished["status"] ?? "") {
            try await Task.sleep(for: .milliseconds(100))
            finished = try await client.call(.get, "/v1/executions/\(id)", token: ownerToken)
        }
        #expect(finished["status"] == "completed" && finished["verdict"] == "accepted", "\(finished.text)")
        #expect((finished.json["run"] as? [String: any Sendable])?["stdout"] as? String == "42\n")
        #expect(try Self.statusFields(worker.processIdentifier)["Uid"]?.hasPrefix("0") == true, "the worker is the privileged part")
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker.processIdentifier)/fd")) ?? []
        #expect(descriptors.count >= 3, "the worker's descriptors are readable: \(descriptors)")
        #expect(Self.networkSockets(of: worker.processIdentifier).isEmpty, "the worker holds no TCP or UDP socket, listening or not")
    }

    @Test("serve started as root refuses a data directory someone else owns or root owns, and names a binary it cannot execute")
    func foreignDataDirectory() throws {
        try #require(getuid() == 0)
        _ = try Self.serviceUser()
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o711)
        let binary = try TalosBinary.copy(into: directory + "/bin")
        // nobody (65534) stands for any other user who created it first.
        for (owner, name) in [(65534, "foreign"), (0, "root-owned")] {
            let data = directory + "/" + name
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            #expect(chown(data, uid_t(owner), gid_t(owner)) == 0)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--data-dir", data, "--port", "0"]
            process.environment = ["TALOS_METRICS_ENABLED": "false", "PATH": "/usr/bin:/bin"]
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus != 0, "\(name): \(text)")
            #expect(text.contains("does not belong to talos"), "\(name): \(text)")
            #expect(!FileManager.default.fileExists(atPath: data + "/secrets"), "nothing was written there")
        }

        // A binary only root may execute: serve says what the service user
        // lacks instead of stopping without a word.
        #expect(chmod(binary, 0o700) == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data-dir", directory + "/fresh", "--port", "0"]
        process.environment = ["TALOS_METRICS_ENABLED": "false", "PATH": "/usr/bin:/bin"]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0, "\(text)")
        #expect(text.contains("talos must be able to execute \(binary)"), "\(text)")
    }

    /// Processes whose parent is `pid`.
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            (try? statusFields(child))?["PPid"] == String(pid)
        }
    }

    /// Inodes of the TCP and UDP sockets (v4 and v6) `pid` holds.
    static func networkSockets(of pid: Int32) -> [String] {
        var network = Set<String>()
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            let text = (try? String(contentsOfFile: "/proc/\(pid)/net/\(table)", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(whereSeparator: \.isWhitespace)
                if fields.count > 9 { network.insert(String(fields[9])) }
            }
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return descriptors.compactMap { fd in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                target.hasPrefix("socket:[")
            else { return nil }
            let inode = String(target.dropFirst("socket:[".count).dropLast())
            return network.contains(inode) ? inode : nil
        }
    }

    static func talos(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TalosBinary.path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }
}

/// JSON over TLS 1.3 to a `talos serve` process, trusting its development CA.
struct BinaryClient: Sendable {
    let port: Int
    let tls: TLSConfiguration

    init(port: Int, caFile: String) throws {
        self.port = port
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        tls.minimumTLSVersion = .tlsv13
        self.tls = tls
    }

    func call(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: [String: any Sendable]? = nil) async throws
        -> APIResponse
    {
        let request = try IdentityClient.request(method, path, token: token, json: json)
        let response = try await TestClient.withClient(
            host: "127.0.0.1", port: port, configuration: .init(tlsConfiguration: tls, timeout: .seconds(60), serverName: "localhost")
        ) { try await $0.execute(request) }
        return APIResponse(status: response.status, headers: response.headers, text: response.text)
    }
}
