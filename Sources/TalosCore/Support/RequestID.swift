/// A request correlation id.
///
/// A client's `X-Request-ID` is kept only when it is a safe token (1–64 of
/// `A–Z a–z 0–9 - _ .`), so it cannot inject into logs, headers or audit
/// records; otherwise a fresh random id is used.
public struct RequestID: Sendable, Hashable, CustomStringConvertible {
    public let value: String

    public static let maximumLength = 64

    /// Keeps `candidate` if it is a safe token, else returns nil.
    public init?(validating candidate: String) {
        guard Self.isSafe(candidate) else { return nil }
        self.value = candidate
    }

    /// A new random 128-bit id, 32 hex digits.
    public static func generate() -> RequestID {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return RequestID(unchecked: hex(high) + hex(low))
    }

    private init(unchecked value: String) {
        self.value = value
    }

    public var description: String { value }

    public static func isSafe(_ candidate: String) -> Bool {
        let bytes = candidate.utf8
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "."):
                true
            default:
                false
            }
        }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
