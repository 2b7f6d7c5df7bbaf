import Citadel
import Forge
import Foundation
import TalosCore

/// Keeps long answers (`wait`, server-sent events) bound to the session that
/// asked for them: logout, revocation or a disabled account ends them at the
/// next check, and the caller then gets the 401 of any request on a dead
/// session. Logout means logout, also for a request already in flight.
struct SessionWatch: Sendable {
    let identity: IdentityService

    /// Whether the principal's session and account are still good; a
    /// database failure counts as "no" (fail closed).
    func isLive(_ principal: Principal) async -> Bool {
        (try? await identity.isSessionLive(principal)) ?? false
    }

    /// Waits up to `seconds` for the job to end, as long as the session lives.
    func wait(
        for id: UUID, caller: ExecutionCaller, principal: Principal, seconds: Int, execution: ExecutionService
    ) async throws -> ExecutionJob {
        let job = try await execution.wait(for: id, caller: caller, seconds: seconds, while: { await isLive(principal) })
        guard await isLive(principal) else { throw Problem.invalidAccessToken }
        return job
    }
}
