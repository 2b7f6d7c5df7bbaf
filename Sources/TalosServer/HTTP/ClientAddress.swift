import Foundation
import TalosCore

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

    /// The rate-limit identity of an address: IPv4 as is, IPv6 by its /64,
    /// since one client commonly holds a whole /64 and could rotate through it.
    static func bucketKey(_ address: String) -> String {
        guard address.contains(":") else { return address }
        // A listener on `::` sees IPv4 clients as `::ffff:a.b.c.d`; their
        // /64 is one shared prefix, so they are keyed by the IPv4 address.
        if let ipv4 = ipv4Mapped(address) { return ipv4 }
        var groups = address.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if let gap = groups.firstIndex(of: ""), address.contains("::") {
            let present = groups.filter { !$0.isEmpty }
            let fill = Array(repeating: "0", count: max(0, 8 - present.count))
            groups = Array(groups[..<gap].filter { !$0.isEmpty }) + fill + Array(groups[gap...].filter { !$0.isEmpty })
        }
        return groups.prefix(4).map { String(Int($0, radix: 16) ?? 0, radix: 16) }.joined(separator: ":") + "::/64"
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`,
    /// any case, with or without the leading zero groups spelled out).
    static func ipv4Mapped(_ address: String) -> String? {
        let lower = address.lowercased()
        guard let range = lower.range(of: "ffff:", options: .backwards) else { return nil }
        let head = lower[..<range.lowerBound]
        let tail = String(lower[range.upperBound...])
        guard head.allSatisfy({ $0 == "0" || $0 == ":" }), !head.isEmpty else { return nil }
        let octets = tail.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UntrustedNumber.integer($0, in: 0...255) != nil && $0.allSatisfy(\.isNumber) }) else {
            return nil
        }
        return tail
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
