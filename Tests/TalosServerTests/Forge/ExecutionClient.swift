import Forge
import Foundation
import HTTPTypes
import TalosCore
import TalosServer

/// Execution API helpers over ``IdentityClient``.
extension IdentityClient {
    /// Test settings for executions: quick leases and heartbeats.
    static func configureForge(_ settings: inout ServerSettings) {
        configure(&settings)
        settings.execution.leaseMilliseconds = 3_000
        settings.execution.heartbeatMilliseconds = 200
        settings.execution.pollMilliseconds = 50
        settings.sandboxConcurrency = 2
        // Waits outlast a compile on a machine that is busy with something
        // else: tests must not depend on the machine being idle.
        settings.execution.maximumWaitSeconds = 120
    }

    /// Polls a Judge0 submission until it leaves In Queue / Processing.
    func pollJudge0(_ token: String, headers: HTTPFields, query: String) async throws -> APIResponse {
        let deadline = Date().addingTimeInterval(300)
        while true {
            let response = try await call(.get, "/judge0/submissions/\(token)" + query, headers: headers)
            let status = response.json["status_id"] as? Int ?? (response.json["status"] as? [String: Any])?["id"] as? Int
            if ![1, 2].contains(status) || Date() > deadline { return response }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A super admin, an owner they invited and a consumer the owner invited,
    /// with the access tokens of the last two.
    func runners(_ suffix: String = "") async throws -> (owner: String, consumer: String, consumerID: String) {
        let root = try await superAdmin(email: "root\(suffix)@example.com")
        let owner = try await invited("owner\(suffix)@example.com", role: .owner, by: root)
        let consumer = try await invited("consumer\(suffix)@example.com", role: .consumer, by: owner)
        return (try await accessToken(owner), try await accessToken(consumer), consumer.id)
    }

    /// Submits and waits for the result.
    func execute(_ token: String, _ body: [String: any Sendable]) async throws -> APIResponse {
        var body = body
        body["wait"] = true
        let answer = try await call(.post, "/v1/executions", token: token, json: body)
        // The wait ended first (a busy machine): follow the job to its end.
        guard answer.status == .accepted, let id = answer["id"] else { return answer }
        return try await poll(token, id)
    }

    /// Polls until the execution is final (or 5 minutes pass).
    func poll(_ token: String, _ id: String, until done: (APIResponse) -> Bool = { response in
        ["completed", "failed", "cancelled"].contains(response["status"] ?? "")
    }) async throws -> APIResponse {
        let deadline = Date().addingTimeInterval(300)
        while true {
            let response = try await call(.get, "/v1/executions/\(id)", token: token)
            if done(response) || Date() > deadline { return response }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension APIResponse {
    /// A nested object of the JSON answer.
    func object(_ key: String) -> [String: any Sendable] {
        json[key] as? [String: any Sendable] ?? [:]
    }
}
