/// Which IP a request is attributed to: the socket peer, unless the peer is
/// a configured trusted proxy, in which case the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy.
enum ClientAddress {
    static func resolve(peer: String?, forwardedFor: String?, trustedProxies: Set<String>) -> String {
        guard let peer else { return "unknown" }
        guard trustedProxies.contains(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
        for hop in hops.reversed() where !trustedProxies.contains(hop) {
            return isPlausibleIP(hop) ? hop : peer
        }
        return peer
    }

    /// Only digits, hex, dots and colons, at most 45 characters: an address,
    /// never text that could smuggle anything into logs or buckets.
    static func isPlausibleIP(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 45
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                    UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "."), UInt8(ascii: ":"):
                    true
                default: false
                }
            }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
