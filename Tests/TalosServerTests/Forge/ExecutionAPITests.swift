import Foundation
import HTTPTypes
import Ledger
import SQLKit
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

@Suite("Executions API", .serialized)
struct ExecutionAPITests {
    static let programs: [(String, String)] = [
        ("python", "import sys\nprint('hi ' + sys.stdin.read().strip())\n"),
        ("javascript", "const s = require('fs').readFileSync(0, 'utf8').trim(); console.log('hi ' + s);\n"),
        ("go", "package main\nimport (\"bufio\"; \"fmt\"; \"os\")\nfunc main() { r := bufio.NewScanner(os.Stdin); r.Scan(); fmt.Println(\"hi \" + r.Text()) }\n"),
        ("rust", "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); println!(\"hi {}\", s.trim()); }\n"),
    ]

    @Test("every language through the API, with wait and by polling", arguments: DatabaseKind.available)
    func everyLanguage(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configureForge, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (owner, consumer, _) = try await api.runners()
            for (language, source) in Self.programs {
                let waited = try await api.execute(consumer, ["language": language, "source": source, "stdin": "talos\n"])
                #expect(waited.status == .ok, "\(language): \(waited.text)")
                #expect(waited["status"] == "completed", "\(language)")
                #expect(waited["verdict"] == "accepted", "\(language): \(waited.text)")
                let run = waited.object("run")
                #expect(run["stdout"] as? String == "hi talos\n", "\(language)")
                #expect(run["exit_code"] as? Int == 0)
                for key in ["stderr", "cpu_ms", "wall_ms", "peak_memory_bytes"] {
                    #expect(run[key] != nil, "\(language) \(key)")
                }
                #expect(waited["created_at"] != nil && waited["started_at"] != nil && waited["finished_at"] != nil)
                if language == "go" || language == "rust" { #expect(waited.object("compile")["verdict"] as? String == "ok") }
            }
            // Without wait: 202 with a link, then polling.
            let queued = try await api.call(.post, "/v1/executions", token: owner, json: ["language": "python", "source": "print(6*7)"])
            #expect(queued.status == .accepted)
            let id = try #require(queued["id"])
            #expect(queued.headers[.location] == "/v1/executions/\(id)")
            #expect((queued.object("links")["events"] as? String) == "/v1/executions/\(id)/events")
            #expect(["queued", "running", "completed"].contains(queued["status"] ?? ""))
            let done = try await api.poll(owner, id)
            #expect(done["verdict"] == "accepted")
            #expect(done.object("run")["stdout"] as? String == "42\n")
            // Someone else's execution does not exist for them.
            #expect(try await api.call(.get, "/v1/executions/\(id)", token: consumer).status == .notFound)
            #expect(try await api.call(.delete, "/v1/executions/\(id)", token: consumer).status == .notFound)
            // The list is mine only, newest first, with filters and a cursor.
            let list = try await api.call(.get, "/v1/executions?limit=2&language=python", token: consumer)
            let items = list.json["items"] as? [[String: any Sendable]] ?? []
            #expect(items.count == 1)
            let all = try await api.call(.get, "/v1/executions?limit=2", token: consumer)
            let page = all.json["items"] as? [[String: any Sendable]] ?? []
            #expect(page.count == 2)
            #expect(page.first?["language"] as? String == "rust")
            let cursor = try #require(all["next_cursor"])
            let next = try await api.call(.get, "/v1/executions?limit=2&cursor=\(cursor)", token: consumer)
            #expect((next.json["items"] as? [[String: any Sendable]])?.compactMap { $0["language"] as? String } == ["javascript", "python"])
            #expect(try await api.call(.get, "/v1/executions?status=bogus", token: consumer).status == .badRequest)
            // Runtimes.
            let runtimes = try await api.call(.get, "/v1/runtimes", token: consumer)
            #expect((runtimes.json["runtimes"] as? [[String: any Sendable]])?.count == 6)
            // Bad input: clear errors, nothing queued.
            let unknown = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "cobol", "source": "x"])
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.problemType == "invalid-execution")
            let tooHigh = try await api.call(
                .post, "/v1/executions", token: consumer, json: ["language": "python", "source": "x", "limits": ["memory_mib": 1_000_000]]
            )
            #expect(tooHigh.status == .unprocessableContent)
            #expect(tooHigh["detail"]?.contains("memory_mib") == true)
            let both = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": "x", "files": [String]()])
            #expect(both.status == .badRequest)
            let badName = try await api.call(
                .post, "/v1/executions", token: consumer, json: ["language": "python", "files": [["name": "../x.py", "content": "1"]]]
            )
            #expect(badName.status == .unprocessableContent)
            // Audit: the request with its parameters and the source hash, never the source.
            let submits = try await api.audit(action: "execution.submit")
            let accepted = submits.filter { $0.outcome == "success" }
            #expect(accepted.count == 5)
            #expect(accepted.allSatisfy { record in record.details["source_sha256"]?.count == 64 && record.details["source_bytes"] != nil && record.details["limits"] != nil })
            let everything = try await server.auditRecords().map { "\($0.details)" }.joined()
            #expect(!everything.contains("readFileSync"), "source text never reaches the trail")
            #expect(try await api.audit(action: "execution.finish").count == 5)
            #expect(try await api.audit(action: "execution.start").count == 5)
            // A system call refused on purpose fails with EPERM and is
            // audited, naming the call and the execution.
            let probe = "import ctypes, errno\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.syscall(272, 0x10000000)\nprint(r, errno.errorcode[ctypes.get_errno()])\n"
            let refused = try await api.execute(consumer, ["language": "python", "source": probe])
            #expect(refused.object("run")["stdout"] as? String == "-1 EPERM\n", "\(refused.text)")
            let refusals = try await api.audit(action: "sandbox.seccomp_refused")
            let refusedID = refused["id"] ?? ""
            let named = refusals.filter { record in record.details["execution"] == refusedID }
            #expect(named.count == 1, "\(refusals.map(\.details))")
            #expect(named.first?.details["syscalls"] == "unshare×1")
            #expect(named.first?.outcome == "denied")
        }
    }

    @Test("grading: compile once, a verdict per case, the three comparisons", arguments: DatabaseKind.available)
    func grading(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configureForge, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            let go = "package main\nimport \"fmt\"\nfunc main() { var a, b int; fmt.Scan(&a, &b); fmt.Printf(\"%d  \\n\", a+b) }\n"
            let graded = try await api.execute(
                consumer,
                [
                    "language": "go", "source": go,
                    "tests": [
                        ["stdin": "1 2", "expected_stdout": "3"], ["stdin": "2 2", "expected_stdout": "5\n"],
                        ["stdin": "10 5", "expected_stdout": "15\n\n"],
                    ],
                ]
            )
            #expect(graded["status"] == "completed", "\(graded.text)")
            #expect(graded["verdict"] == "wrong_answer")
            #expect(graded.json["passed"] as? Int == 2)
            #expect(graded.json["total"] as? Int == 3)
            let tests = graded.json["tests"] as? [[String: any Sendable]] ?? []
            #expect(tests.compactMap { $0["verdict"] as? String } == ["accepted", "wrong_answer", "accepted"])
            #expect(tests.allSatisfy { $0["cpu_ms"] != nil && $0["wall_ms"] != nil && $0["peak_memory_bytes"] != nil })
            let id = try #require(graded["id"])
            let stages = try await api.audit(action: "sandbox.stage").filter { $0.details["execution"] == id }
            #expect(stages.filter { $0.details["stage"] == "compile" }.count == 1, "compiled once")
            #expect(stages.filter { $0.details["stage"]?.hasPrefix("test:") == true }.count == 3)
            // Comparison modes on the same output ("a  b \n"): exact, Judge0's trim, tokens.
            let program = "print('a  b ')"
            for (mode, expected, verdict) in [
                ("exact", "a  b \n", "accepted"), ("exact", "a  b", "wrong_answer"),
                ("trim_trailing_whitespace", "a  b", "accepted"), ("trim_trailing_whitespace", "a b", "wrong_answer"),
                ("trim_trailing_whitespace", " a  b", "wrong_answer"), ("tokens", "a\nb", "accepted"), ("tokens", "a b c", "wrong_answer"),
            ] {
                let result = try await api.execute(
                    consumer, ["language": "python", "source": program, "compare": mode, "tests": [["stdin": "", "expected_stdout": expected]]]
                )
                #expect(result["verdict"] == verdict, "\(mode) \(expected.debugDescription)")
            }
            // Engine verdicts per case: a crash and a time limit.
            let mixed = try await api.execute(
                consumer,
                [
                    "language": "python", "source": "import sys\nn = int(sys.stdin.read())\nif n == 1: sys.exit(3)\nif n == 2:\n    while True: pass\nprint(n)\n",
                    "limits": ["cpu_ms": 500], "tests": [["stdin": "0", "expected_stdout": "0"], ["stdin": "1", "expected_stdout": ""], ["stdin": "2", "expected_stdout": ""]],
                ]
            )
            let verdicts = (mixed.json["tests"] as? [[String: any Sendable]] ?? []).compactMap { $0["verdict"] as? String }
            #expect(verdicts == ["accepted", "runtime_error", "time_limit_exceeded"])
            #expect(mixed["verdict"] == "runtime_error")
            let compileError = try await api.execute(
                consumer, ["language": "rust", "source": "fn main() { nope }", "tests": [["stdin": "", "expected_stdout": ""]]]
            )
            #expect(compileError["verdict"] == "compile_error")
            #expect((compileError.json["tests"] as? [Any]) == nil)
        }
    }
}
