import Foundation
import HTTPTypes
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

@Suite("Judge0 and Piston compatible APIs", .serialized)
struct CompatibleAPITests {
    @Test("Judge0 1.13.1: submissions, fields, status ids, batch, metadata, X-Auth-Token", arguments: DatabaseKind.available)
    func judge0(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configureForge, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (owner, consumer, _) = try await api.runners()
            let auth: HTTPFields = [HTTPField.Name("X-Auth-Token")!: consumer]
            func submit(_ body: [String: any Sendable], query: String = "?wait=true&fields=*") async throws -> APIResponse {
                try await api.call(.post, "/judge0/submissions" + query, json: body, headers: auth)
            }
            // Status ids for each outcome.
            let cases: [([String: any Sendable], Int)] = [
                (["source_code": "print(input())", "language_id": 71, "stdin": "x", "expected_output": "x  \n"], 3),
                (["source_code": "print(input())", "language_id": 71, "stdin": "x", "expected_output": "y"], 4),
                (["source_code": "while True: pass", "language_id": 71, "cpu_time_limit": 0.5], 5),
                (["source_code": "package main\nfunc main() { nope }", "language_id": 60], 6),
                (["source_code": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "language_id": 71], 7),
                (["source_code": "process.exit(3)", "language_id": 63], 11),
                (["source_code": "fn main() { println!(\"ok\"); }", "language_id": 73], 3),
            ]
            for (body, status) in cases {
                var response = try await submit(body)
                // `wait` gives up after 30 s; a loaded machine may need longer to compile.
                if let token = response["token"], [1, 2].contains(response.json["status_id"] as? Int) {
                    response = try await api.pollJudge0(token, headers: auth, query: "?fields=*")
                }
                #expect(response.status == .created, "\(response.text)")
                #expect((response.object("status")["id"] as? Int) == status, "\(body["source_code"] ?? "") \(response.text)")
                #expect(response.json["status_id"] as? Int == status)
            }
            // fields=*: exactly Judge0's keys in Judge0's order, Judge0's types.
            let full = try await submit(["source_code": "print('hi')", "language_id": 71])
            let keys = full.json.keys.sorted()
            #expect(keys == [
                "additional_files", "callback_url", "command_line_arguments", "compile_output", "compiler_options", "cpu_extra_time",
                "cpu_time_limit", "created_at", "enable_network", "enable_per_process_and_thread_memory_limit",
                "enable_per_process_and_thread_time_limit", "exit_code", "exit_signal", "expected_output", "finished_at", "language",
                "language_id", "max_file_size", "max_processes_and_or_threads", "memory", "memory_limit", "message", "number_of_runs",
                "redirect_stderr_to_stdout", "source_code", "stack_limit", "status", "status_id", "stderr", "stdin", "stdout", "time",
                "token", "wall_time", "wall_time_limit",
            ])
            #expect(full.text.hasPrefix("{\"source_code\":\"print('hi')\",\"language_id\":71,\"stdin\":null,\"expected_output\":null,\"stdout\":\"hi\\n\""))
            #expect(full["time"].flatMap(Double.init) != nil, "time is a decimal string")
            #expect(full.json["memory"] is Int)
            #expect(full["created_at"]?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
            #expect((full.object("language")["id"] as? Int) == 71)
            // Without wait: a UUID token, then GET with the default fields.
            let queued = try await submit(["source_code": "cHJpbnQoImFiYyIp", "language_id": 71], query: "?base64_encoded=true")
            #expect(queued.status == .created)
            #expect(queued.json.keys.sorted() == ["token"])
            let token = try #require(queued["token"])
            #expect(UUID(uuidString: token) != nil)
            var fetched = APIResponse(status: .ok, headers: [:], text: "{}")
            for _ in 0..<600 {
                fetched = try await api.call(.get, "/judge0/submissions/\(token)?base64_encoded=true", headers: auth)
                if let id = fetched.object("status")["id"] as? Int, id > 2 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(Set(fetched.json.keys) == ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"])
            #expect(fetched["stdout"] == "YWJjCg==\n", "Ruby-style base64, newline-terminated")
            #expect(fetched.text.hasPrefix("{\"stdout\":"), "Judge0's key order")
            // Bearer works too; someone else's token is 404; bad fields are 400.
            #expect(try await api.call(.get, "/judge0/submissions/\(token)", token: consumer).status == .ok)
            #expect(try await api.call(.get, "/judge0/submissions/\(token)", token: owner).status == .notFound)
            let badFields = try await api.call(.get, "/judge0/submissions/\(token)?fields=stdout,bogus", headers: auth)
            #expect(badFields.status == .badRequest)
            #expect(badFields["error"] == "invalid fields: [bogus]")
            // Validation: Judge0's 422 body.
            let invalid = try await submit(["language_id": 9999], query: "")
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.json["source_code"] as? [String] == ["can't be blank"])
            #expect(invalid.json["language_id"] as? [String] == ["language with id 9999 doesn't exist"])
            let network = try await submit(["source_code": "print(1)", "language_id": 71, "enable_network": true], query: "")
            #expect(network.json["enable_network"] as? [String] == ["enabling network is not allowed"])
            // Batch.
            let batch = try await api.call(
                .post, "/judge0/submissions/batch", json: ["submissions": [["source_code": "print(1)", "language_id": 71] as [String: any Sendable], ["language_id": 71] as [String: any Sendable]] as [any Sendable]],
                headers: auth
            )
            #expect(batch.status == .created)
            let answers = try JSONSerialization.jsonObject(with: Data(batch.text.utf8)) as? [[String: Any]] ?? []
            #expect(answers.count == 2)
            let batchToken = try #require(answers.first?["token"] as? String)
            #expect(answers.last?["source_code"] as? [String] == ["can't be blank"])
            let listed = try await api.call(.get, "/judge0/submissions/batch?tokens=\(batchToken),\(UUID().uuidString.lowercased())&fields=token,status", headers: auth)
            let submissions = try #require(listed.json["submissions"] as? [Any])
            #expect(submissions.count == 2)
            #expect(submissions.last is NSNull, "an unknown token is null")
            #expect(try await api.call(.post, "/judge0/submissions/batch", json: ["submissions": [String]()], headers: auth).status == .badRequest)
            // Metadata.
            let languages = try JSONSerialization.jsonObject(with: Data(try await api.call(.get, "/judge0/languages", headers: auth).text.utf8)) as? [[String: Any]] ?? []
            #expect(Set(languages.compactMap { $0["id"] as? Int }) == [50, 54, 60, 63, 71, 73])
            let language = try await api.call(.get, "/judge0/languages/71", headers: auth)
            #expect(language.json.keys.sorted() == ["compile_cmd", "id", "is_archived", "name", "run_cmd", "source_file"])
            let statuses = try JSONSerialization.jsonObject(with: Data(try await api.call(.get, "/judge0/statuses", headers: auth).text.utf8)) as? [[String: Any]] ?? []
            #expect(statuses.compactMap { $0["id"] as? Int } == Array(1...14))
            #expect(statuses.last?["description"] as? String == "Exec Format Error")
            #expect(try await api.call(.get, "/judge0/about", headers: auth)["version"] == "1.13.1")
            let config = try await api.call(.get, "/judge0/config_info", headers: auth)
            #expect(config.json.count == 39)
            // No token, no service.
            #expect(try await api.call(.get, "/judge0/languages").status == .unauthorized)
            #expect(try await api.call(.get, "/judge0/languages", headers: [HTTPField.Name("X-Auth-Token")!: "forged"]).status == .unauthorized)
        }
    }

    /// Drives the official SDK (PyPI judge0 0.0.8, installed by
    /// `scripts/install-deps.sh test`) against the server, unmodified.
    static let sdkScript = """
        import json, sys, httpx
        # The SDK's HTTP client gives up after 5 s by default; on a machine busy
        # with the rest of the suite a request can take longer. Only the HTTP
        # library's default is raised; the SDK runs as published.
        _init = httpx.Client.__init__
        def _patient(self, *args, **kwargs):
            kwargs.setdefault("timeout", 120)
            _init(self, *args, **kwargs)
        httpx.Client.__init__ = _patient
        import judge0
        client = judge0.Client(endpoint=sys.argv[1], headers={"X-Auth-Token": sys.argv[2]})
        single = judge0.run(client=client, source_code="print(input()*2)", stdin="ab", language=judge0.PYTHON)
        graded = judge0.run(client=client, source_code="print(int(input())*2)", language=71,
                            test_cases=[("1", "2"), ("2", "5"), ("3", "6")])
        print(json.dumps({"single": [str(single.status), single.stdout, single.time is not None, single.memory is not None],
                          "graded": [[str(r.status), r.stdout] for r in graded]}))
        """

    @Test("the official judge0 Python SDK works unmodified", arguments: DatabaseKind.available)
    func judge0SDK(_ kind: DatabaseKind) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let python = root.appendingPathComponent(".build/judge0-sdk/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/install-deps.sh test")
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configureForge, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            let script = server.test.directory + "/sdk.py"
            try Self.sdkScript.write(toFile: script, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, "https://localhost:\(server.port)/judge0", consumer]
            // The SDK's HTTP client trusts the CA named here, as any operator would set it.
            process.environment = ["SSL_CERT_FILE": server.dataDirectory + "/tls/dev-ca.pem", "PATH": "/usr/bin:/bin"]
            let output = Pipe()
            process.standardOutput = output
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            let failure = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(failure.suffix(800))")
            let result = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            let single = result["single"] as? [Any] ?? []
            #expect(single.first as? String == "Accepted")
            #expect(single.dropFirst().first as? String == "abab\n")
            #expect(single.dropFirst(2).allSatisfy { $0 as? Bool == true }, "time and memory parsed")
            let graded = result["graded"] as? [[String]] ?? []
            #expect(graded == [["Accepted", "2\n"], ["Wrong Answer", "4\n"], ["Accepted", "6\n"]])
            #expect(try await api.audit(action: "execution.submit").filter { $0.details["api"] == "judge0" }.count == 4)
        }
    }

    @Test("Piston v2: execute and runtimes in Piston's shapes", arguments: DatabaseKind.available)
    func piston(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configureForge, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            let run = try await api.call(
                .post, "/piston/api/v2/execute", token: consumer,
                json: ["language": "py", "version": "*", "files": [["content": "import sys\nprint(sys.stdin.read().upper(), end='')\nprint('e', file=sys.stderr)"]], "stdin": "abc"]
            )
            #expect(run.status == .ok, "\(run.text)")
            #expect(run.json.keys.sorted() == ["language", "run", "version"])
            #expect(run["language"] == "python")
            let stage = run.object("run")
            #expect(stage.keys.sorted() == ["code", "cpu_time", "memory", "message", "output", "signal", "status", "stderr", "stdout", "wall_time"])
            #expect(stage["stdout"] as? String == "ABC\n", "stdin ends with a newline, as Piston sends it")
            #expect(stage["stderr"] as? String == "e\n")
            #expect(stage["code"] as? Int == 0)
            #expect(stage["signal"] is NSNull)
            let compiled = try await api.call(
                .post, "/piston/api/v2/execute", token: consumer,
                json: ["language": "go", "version": "*", "files": [["name": "main.go", "content": "package main\nfunc main() { broken }"]]]
            )
            #expect(compiled.status == .ok)
            #expect(compiled.object("compile")["code"] as? Int != 0)
            #expect((compiled.object("run")["stderr"] as? String) == (compiled.object("compile")["stderr"] as? String), "run copies a failed compile")
            let timeout = try await api.call(
                .post, "/piston/api/v2/execute", token: consumer,
                json: ["language": "python", "version": "3.11", "files": [["content": "while True: pass"]], "run_cpu_time": 300]
            )
            #expect(timeout.object("run")["status"] as? String == "TO")
            #expect(timeout.object("run")["signal"] as? String == "SIGKILL")
            let unknown = try await api.call(.post, "/piston/api/v2/execute", token: consumer, json: ["language": "cobol", "version": "*", "files": [["content": "x"]]])
            #expect(unknown.status == .badRequest)
            #expect(unknown["message"] == "cobol-* runtime is unknown")
            let tooLong = try await api.call(
                .post, "/piston/api/v2/execute", token: consumer, json: ["language": "python", "version": "*", "files": [["content": "1"]], "run_timeout": 10_000_000]
            )
            #expect(tooLong["message"] == "run_timeout cannot exceed the configured limit of 60000")
            let runtimes = try JSONSerialization.jsonObject(with: Data(try await api.call(.get, "/piston/api/v2/runtimes", token: consumer).text.utf8)) as? [[String: Any]] ?? []
            #expect(runtimes.count == 6)
            #expect(runtimes.allSatisfy { $0["language"] is String && $0["version"] is String && $0["aliases"] is [String] })
            #expect(try await api.call(.get, "/piston/api/v2/runtimes").status == .unauthorized)
        }
    }
}
