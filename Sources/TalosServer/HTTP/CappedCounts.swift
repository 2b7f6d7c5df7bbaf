/// Places held in all and per key, under a cap for each: the one counting
/// rule behind the connection limit and the event-stream limit. Memory is
/// bounded by the total cap (a key is dropped when its count reaches 0).
struct CappedCounts {
    enum Refusal: Equatable {
        case total
        case perKey
    }

    let maximumTotal: Int
    let maximumPerKey: Int
    private(set) var total = 0
    private var byKey: [String: Int] = [:]

    init(maximumTotal: Int, maximumPerKey: Int) {
        self.maximumTotal = maximumTotal
        self.maximumPerKey = maximumPerKey
    }

    /// Takes a place for `key`, or says which cap refused it. `capKey: false`
    /// counts the place toward the total only (a trusted proxy's).
    mutating func take(_ key: String, capKey: Bool = true) -> Refusal? {
        if total >= maximumTotal { return .total }
        if capKey, byKey[key, default: 0] >= maximumPerKey { return .perKey }
        total += 1
        byKey[key, default: 0] += 1
        return nil
    }

    mutating func give(_ key: String) {
        total -= 1
        let left = byKey[key, default: 1] - 1
        byKey[key] = left > 0 ? left : nil
    }
}
