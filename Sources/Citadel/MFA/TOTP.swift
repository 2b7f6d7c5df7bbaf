import Crypto
public import Foundation

/// RFC 6238 time-based one-time passwords (HMAC-SHA1, 6 digits, 30-second
/// steps), compared in constant time.
public struct TOTP: Sendable {
    public static let digits = 6
    public static let period: Int64 = 30
    /// RFC 4226's recommended 160-bit secret.
    public static let secretLength = 20

    let secret: SymmetricKey
    let digits: Int

    public init(secret: [UInt8], digits: Int = TOTP.digits) {
        self.secret = SymmetricKey(data: secret)
        self.digits = digits
    }

    public static func step(at date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down)) / period
    }

    /// The code for a time step (RFC 4226 dynamic truncation).
    public func code(step: Int64) -> String {
        var counter = UInt64(bitPattern: step).bigEndian
        let message = withUnsafeBytes(of: &counter) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: secret))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let value = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let text = String(value % modulus)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// The step `code` is valid for within ±`window` steps of `date`, or nil.
    /// Every candidate is compared, in constant time, whether or not one matched.
    public func matchingStep(_ code: String, at date: Date, window: Int64 = 1) -> Int64? {
        let now = Self.step(at: date)
        var found: Int64?
        for step in (now - window)...(now + window) {
            if ConstantTime.equal(Array(self.code(step: step).utf8), Array(code.utf8)) { found = found ?? step }
        }
        return found
    }

    /// The `otpauth://` URI authenticator apps read.
    public static func provisioningURI(secret: [UInt8], account: String, issuer: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~@"))
        let encode = { (text: String) in text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "talos" }
        let label = encode(issuer) + ":" + encode(account)
        return "otpauth://totp/\(label)?secret=\(Base32.encode(secret))&issuer=\(encode(issuer))"
            + "&algorithm=SHA1&digits=\(digits)&period=\(period)"
    }
}
