import Foundation
import HTTPTypes
import Ledger
import SQLKit
import TalosCore
import TalosServer
import TalosStore
import TalosTestSupport
import Testing

/// `talos worker` processes on one PostgreSQL, each logged in as the
/// least-privileged worker role the README documents.
@Suite("Worker processes", .serialized)
struct WorkerProcessTests {
    /// A worker host: its own data directory holding only the two secrets a
    /// worker needs, the database password being the worker role's.
    struct WorkerHost {
        let directory: String
        let environment: [String: String]

        static func make(server: TestServer, role: String, password: String) throws -> WorkerHost {
            let directory = server.test.directory + "/worker-\(role)-\(UUID().uuidString.prefix(6))"
            try FileManager.default.createDirectory(atPath: directory + "/secrets", withIntermediateDirectories: true)
            chmod(directory, 0o700)
            chmod(directory + "/secrets", 0o700)
            _ = FileManager.default.createFile(atPath: directory + "/secrets/database_password", contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
            let signing = try Data(contentsOf: URL(fileURLWithPath: server.dataDirectory + "/secrets/audit_signing_key"))
            _ = FileManager.default.createFile(atPath: directory + "/secrets/audit_signing_key", contents: signing, attributes: [.posixPermissions: 0o600])
            let url = try #require(server.test.postgresURL).replacingOccurrences(of: "talos_test@", with: "\(role)@")
            return WorkerHost(
                directory: directory,
                environment: [
                    "PATH": "/usr/bin:/bin", "TALOS_DATABASE_URL": url, "TALOS_FORGE_QUEUE_LEASE_MS": "1500",
                    "TALOS_FORGE_QUEUE_HEARTBEAT_MS": "200", "TALOS_FORGE_QUEUE_POLL_MS": "50", "TALOS_FORGE_CONCURRENCY": "2",
                    "TALOS_METRICS_ENABLED": "false",
                ]
            )
        }

        /// Starts `talos worker --name name` and returns once it takes jobs.
        func start(_ name: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TalosBinary.path)
            process.arguments = ["worker", "--data-dir", directory, "--name", name]
            process.environment = environment
            let output = Pipe()
            process.standardOutput = output
            let errors = FileManager.default.createFile(atPath: directory + "/\(name).err", contents: nil)
                ? FileHandle(forWritingAtPath: directory + "/\(name).err") : nil
            process.standardError = errors ?? FileHandle.nullDevice
            try process.run()
            var seen = ""
            while !seen.contains("is taking jobs") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen += String(decoding: chunk, as: UTF8.self)
            }
            guard seen.contains("is taking jobs") else {
                let reason = (try? String(contentsOfFile: directory + "/\(name).err", encoding: .utf8)) ?? ""
                throw TestSetupError("worker \(name) did not start: \(reason.suffix(600))")
            }
            return process
        }
    }

    /// The role of README "Workers", with a random password.
    static func createWorkerRole(_ server: TestServer) async throws -> (String, String) {
        let role = "talos_worker_\(UUID().uuidString.prefix(8).lowercased())"
        let password = UUID().uuidString
        let sql = server.runtime.database.sql
        try await sql.raw("CREATE ROLE \(unsafeRaw: role) LOGIN PASSWORD '\(unsafeRaw: password)'").run()
        for grant in [
            "GRANT USAGE ON SCHEMA public TO \(role)", "GRANT SELECT ON talos_migrations TO \(role)",
            "GRANT SELECT, UPDATE ON executions TO \(role)", "GRANT SELECT, INSERT ON execution_events TO \(role)",
            "GRANT SELECT, INSERT ON audit_records, audit_checkpoints TO \(role)",
        ] {
            try await sql.raw(SQLQueryString(grant)).run()
        }
        return (role, password)
    }

    @Test("a worker killed mid-job: another finishes it, one result; two workers never run a job twice", arguments: [DatabaseKind.postgres])
    func killedWorker(_ kind: DatabaseKind) async throws {
        guard DatabaseKind.available.contains(kind) else { return }
        let clock = TestClock()
        let configure: (inout ServerSettings) -> Void = { settings in
            IdentityClient.configureForge(&settings)
            settings.inProcessWorkers = false
        }
        try await TestServer.run(kind, configure: configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            let (role, password) = try await Self.createWorkerRole(server)
            let host = try WorkerHost.make(server: server, role: role, password: password)
            // The role reaches nothing else.
            var settings = try PostgresSettings(url: try #require(server.test.postgresURL), password: Secret(password))
            settings.username = role
            let asWorker = try TalosDatabase.open(.postgres(settings), logger: TestDatabase.logger)
            await #expect(throws: (any Error).self) { _ = try await asWorker.sql.raw("SELECT * FROM accounts").all() }
            await #expect(throws: (any Error).self) { try await asWorker.sql.raw("DELETE FROM executions").run() }
            try? await asWorker.close()

            var first = try host.start("a")
            let program = "import time\nprint('x', flush=True)\nwhile time.process_time() < 2.5: pass\nprint('done')\n"
            let submitted = try await api.call(
                .post, "/v1/executions", token: consumer, json: ["language": "python", "source": program, "limits": ["cpu_ms": 6000, "wall_ms": 30000]]
            )
            let id = try #require(submitted["id"])
            _ = try await api.poll(consumer, id) { $0["status"] == "running" }
            let owner = try await server.runtime.database.sql.raw("SELECT lease_owner FROM executions WHERE id = \(bind: id)").first()
            #expect(try owner?.decode(column: "lease_owner", as: String.self).hasPrefix("a-") == true)
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            let second = try host.start("b")
            let done = try await api.poll(consumer, id)
            #expect(done["status"] == "completed", "\(done.text)")
            #expect(done["verdict"] == "accepted")
            #expect(done.json["attempts"] as? Int == 2)
            #expect(done.object("run")["stdout"] as? String == "x\ndone\n")
            let finishes = try await api.audit(action: "execution.finish").filter { $0.target == id }
            #expect(finishes.count == 1, "exactly one result")
            #expect(finishes.first?.details["worker"]?.hasPrefix("b-") == true)
            let requeues = try await api.audit(action: "execution.requeue").filter { $0.target == id }
            #expect(requeues.count == 1)
            #expect(requeues.first?.details["lost_worker"]?.hasPrefix("a-") == true)
            #expect(try await api.audit(action: "execution.start").filter { $0.target == id }.count == 2)

            // A restarted "a" reaps the box its predecessor left; then both share the queue.
            first = try host.start("a")
            var ids: [String] = []
            for index in 0..<12 {
                let response = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": "print(\(index))"])
                if response.status == .accepted, let id = response["id"] { ids.append(id) } else {
                    // The consumer quota allows 4 at once: wait for room.
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            for job in ids { #expect(try await api.poll(consumer, job)["status"] == "completed") }
            let rows = try await server.runtime.database.sql.raw(
                "SELECT attempts, lease_owner FROM executions WHERE id IN (\(binds: ids))"
            ).all()
            #expect(rows.count == ids.count)
            #expect(try rows.allSatisfy { try $0.decode(column: "attempts", as: Int.self) == 1 }, "no job ran twice")
            let starts = try await api.audit(action: "execution.start").filter { ids.contains($0.target) }
            #expect(starts.count == ids.count)
            for process in [first, second] {
                process.terminate()
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "SIGTERM stops a worker cleanly")
            }
            // A server write brings its file copy up to the shared chain first.
            try await server.runtime.audit.record(AuditEvent(actor: "system", action: "test.checkpoint", target: "audit", outcome: .success))
            let context = try MaintenanceContext.open(settings: server.runtime.settings, logger: TestDatabase.logger)
            let report = try await context.verifyAudit()
            await context.close()
            #expect(report.isIntact, "one chain across the server and both workers: \(String(describing: report.firstFinding))")
        }
    }
}
