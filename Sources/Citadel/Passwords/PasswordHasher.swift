import CArgon2
import Dispatch
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TalosCore

/// argon2id through libargon2 (the reference implementation), producing
/// standard PHC strings any argon2 library verifies.
///
/// Hashing runs on its own threads, never on the cooperative pool, and at
/// most ``HashingGate`` permits at once; a caller waits a bounded time for a
/// permit and is then refused with ``CitadelError/overloaded``.
public struct PasswordHasher: Sendable {
    public let parameters: Argon2Parameters
    let gate: HashingGate
    /// A hash of a random password, verified when an email is unknown so the
    /// answer takes as long as for a known one.
    let decoy: String

    static let saltLength = 16
    static let hashLength = 32

    public init(parameters: Argon2Parameters, gate: HashingGate) throws {
        guard parameters.isAcceptable else { throw CitadelError.invalidConfiguration("argon2 parameters below m=19456,t=2,p=1") }
        self.parameters = parameters
        self.gate = gate
        self.decoy = try Self.hashNow(Secret(OneTimeTokens.generate().unsafeValue), parameters: parameters)
    }

    /// A PHC string for `password`.
    public func hash(_ password: Secret<String>) async throws -> String {
        let parameters = parameters
        return try await gate.run { try Self.hashNow(password, parameters: parameters) }
    }

    public enum Verification: Sendable, Equatable {
        case mismatch
        case match
        /// Matched, but under other parameters: store a new hash.
        case matchNeedsRehash
    }

    /// Checks `password` against `phc`; with a nil `phc` (no such account)
    /// checks against a decoy so both take the same time, and answers mismatch.
    public func verify(_ password: Secret<String>, against phc: String?) async throws -> Verification {
        let encoded = phc ?? decoy
        let matched = try await gate.run { Self.verifyNow(password, encoded: encoded) }
        guard matched, phc != nil else { return .mismatch }
        return Argon2Parameters(phc: encoded) == parameters ? .match : .matchNeedsRehash
    }

    static func hashNow(_ password: Secret<String>, parameters: Argon2Parameters) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let length = argon2_encodedlen(
            parameters.iterations, parameters.memoryKiB, parameters.parallelism, UInt32(saltLength), UInt32(hashLength),
            Argon2_id
        )
        var encoded = [CChar](repeating: 0, count: length + 1)
        let bytes = Array(password.unsafeValue.utf8)
        let status = argon2id_hash_encoded(
            parameters.iterations, parameters.memoryKiB, parameters.parallelism, bytes, bytes.count, salt, salt.count,
            hashLength, &encoded, encoded.count
        )
        guard status == ARGON2_OK.rawValue else { throw CitadelError.hashingFailed }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func verifyNow(_ password: Secret<String>, encoded: String) -> Bool {
        let bytes = Array(password.unsafeValue.utf8)
        return argon2id_verify(encoded, bytes, bytes.count) == ARGON2_OK.rawValue
    }
}

/// Caps concurrent password hashing at `permits` (the core count) and makes
/// callers wait at most `maximumWait` for a turn, so a flood of logins is
/// refused quickly instead of exhausting memory.
public final class HashingGate: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>
    public let permits: Int
    public let maximumWait: Duration
    /// Callers beyond this many waiting are refused at once.
    public let maximumQueue: Int
    private let queue = DispatchQueue(label: "talos.argon2", attributes: .concurrent)

    public init(permits: Int, maximumWait: Duration = .seconds(2), maximumQueue: Int = 256) {
        self.permits = max(1, permits)
        self.maximumWait = maximumWait
        self.maximumQueue = maximumQueue
        self.state = Mutex(State(available: max(1, permits)))
    }

    /// Runs `work` on a hashing thread once a permit is free.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    private func acquire() async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let timer = Mutex<Task<Void, Never>?>(nil)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let immediate: Result<Void, any Error>? = state.withLock { state in
                if state.available > 0 {
                    state.available -= 1
                    return .success(())
                }
                if state.waiters.count >= maximumQueue { return .failure(CitadelError.overloaded) }
                state.waiters.append(Waiter(id: id, continuation: continuation))
                return nil
            }
            if let immediate {
                continuation.resume(with: immediate)
                return
            }
            let wait = maximumWait
            timer.withLock {
                $0 = Task {
                    try? await Task.sleep(for: wait)
                    if !Task.isCancelled { self.expire(id) }
                }
            }
        }
        timer.withLock { $0?.cancel() }
    }

    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: CitadelError.overloaded)
    }

    private func release() {
        let next: Waiter? = state.withLock { state in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.continuation.resume()
    }
}
