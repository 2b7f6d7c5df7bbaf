/// A submitted second factor, read from untrusted text: a TOTP code (six
/// ASCII digits) or a recovery code (16 base32 characters; case, dashes and
/// white space ignored), or something that can match neither.
enum SecondFactorCode: Equatable {
    case totp(String)
    case recovery(String)
    case unusable

    /// What authenticator apps show (`TOTP.digits`).
    static let totpDigits = 6
    /// Recovery codes are 16 base32 characters: 80 random bits.
    static let recoveryLength = 16
    /// Longer text is not looked at.
    static let maximumBytes = 64

    init(_ text: String) {
        guard text.utf8.count <= Self.maximumBytes else {
            self = .unusable
            return
        }
        let compact = text.filter { !$0.isWhitespace }
        if compact.utf8.count == Self.totpDigits, compact.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            self = .totp(compact)
            return
        }
        let normalized = compact.lowercased().filter { $0 != "-" }
        let alphabet = Set("abcdefghijklmnopqrstuvwxyz234567")
        guard normalized.count == Self.recoveryLength, normalized.allSatisfy(alphabet.contains) else {
            self = .unusable
            return
        }
        self = .recovery(normalized)
    }

    /// `abcd-efgh-ijkl-mnop`: how a recovery code is shown.
    static func format(recoveryCode: String) -> String {
        let characters = Array(recoveryCode)
        return stride(from: 0, to: characters.count, by: 4).map { String(characters[$0..<min($0 + 4, characters.count)]) }
            .joined(separator: "-")
    }
}
