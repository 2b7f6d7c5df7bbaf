import Synchronization

/// Token buckets keyed by (group, client), refilled continuously.
///
/// Memory is bounded: past `maximumKeys` buckets, full (idle) buckets are
/// dropped first, which forgets nothing a client could benefit from.
final class RateLimiter: Sendable {
    enum Decision: Equatable {
        case allow
        /// Refused; try again after this many whole seconds (at least 1).
        case refuse(retryAfterSeconds: Int)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
    }

    private let settings: RateLimitSettings
    private let state = Mutex(State())
    private let maximumKeys: Int
    private let clock: @Sendable () -> ContinuousClock.Instant

    init(settings: RateLimitSettings, maximumKeys: Int = 100_000, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.settings = settings
        self.maximumKeys = maximumKeys
        self.clock = clock
    }

    func check(group: RateLimitGroup, key: String, now given: ContinuousClock.Instant? = nil) -> Decision {
        let now = given ?? clock()
        let limits = settings[group]
        let capacity = Double(limits.burst)
        let perSecond = Double(limits.perMinute) / 60
        let bucketKey = group.rawValue + "|" + key
        return state.withLock { state in
            var bucket = state.buckets[bucketKey] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = Double((now - bucket.updated).components.seconds)
                + Double((now - bucket.updated).components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + max(0, elapsed) * perSecond)
            bucket.updated = now
            let decision: Decision
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                decision = .allow
            } else {
                let wait = (1 - bucket.tokens) / perSecond
                decision = .refuse(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
            }
            if state.buckets.count >= maximumKeys, state.buckets[bucketKey] == nil {
                Self.evict(&state, now: now, settings: settings)
            }
            state.buckets[bucketKey] = bucket
            return decision
        }
    }

    /// Drops buckets that have refilled completely (forgetting them changes
    /// nothing); if that frees too little, drops the least recently used of
    /// those still holding tokens. A drained bucket is never dropped, so a
    /// flood of new keys cannot reset a client that is being refused.
    private static func evict(_ state: inout State, now: ContinuousClock.Instant, settings: RateLimitSettings) {
        state.buckets = state.buckets.filter { key, bucket in
            let group = RateLimitGroup(rawValue: String(key.prefix { $0 != "|" })) ?? .api
            let limits = settings[group]
            let elapsed = Double((now - bucket.updated).components.seconds)
            return bucket.tokens + elapsed * Double(limits.perMinute) / 60 < Double(limits.burst)
        }
        let target = state.buckets.count * 3 / 4
        guard state.buckets.count > target, target > 0 else { return }
        let candidates = state.buckets.filter { $0.value.tokens >= 1 }.sorted { $0.value.updated < $1.value.updated }
        for (key, _) in candidates.prefix(state.buckets.count - target) {
            state.buckets[key] = nil
        }
    }
}
