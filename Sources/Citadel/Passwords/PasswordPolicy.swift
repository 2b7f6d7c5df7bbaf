import Foundation

/// The password rules: 16–256 characters; three of the four character
/// classes, or at least 24 characters; not containing the email's local part;
/// not a common password.
///
/// A policy answers with a value: an empty list of violations means accepted.
public struct PasswordPolicy: Sendable {
    public enum Violation: String, Sendable, Equatable, CaseIterable {
        case tooShort = "too_short"
        case tooLong = "too_long"
        case tooSimple = "too_simple"
        case containsEmail = "contains_email"
        case common = "common_password"

        /// What the client is told.
        public var message: String {
            switch self {
            case .tooShort: "Use at least \(PasswordPolicy.minimumLength) characters."
            case .tooLong: "Use at most \(PasswordPolicy.maximumLength) characters."
            case .tooSimple:
                "Mix at least three of lower case, upper case, digits and symbols, or use at least \(PasswordPolicy.longPassphraseLength) characters."
            case .containsEmail: "Do not include your email address."
            case .common: "This password is too common; choose another."
            }
        }
    }

    public static let minimumLength = 16
    public static let maximumLength = 256
    /// From this length on, a passphrase needs no character mix.
    public static let longPassphraseLength = 24
    /// The local part is only matched from this length on, so `a@x.io` does
    /// not forbid every password with an `a`.
    static let minimumLocalPartMatch = 3

    let blocklist: Set<String>

    public init(blocklist: Set<String>) {
        self.blocklist = blocklist
    }

    /// The policy with the shipped list of common passwords.
    public static func standard() throws -> PasswordPolicy {
        PasswordPolicy(blocklist: try CommonPasswords.load())
    }

    /// Every rule `password` breaks, in a stable order.
    public func violations(of password: String, email: EmailLocalPart?) -> [Violation] {
        var found: [Violation] = []
        let length = password.count
        if length < Self.minimumLength { found.append(.tooShort) }
        if length > Self.maximumLength { found.append(.tooLong) }
        if length < Self.longPassphraseLength && Self.characterClasses(in: password) < 3 {
            found.append(.tooSimple)
        }
        let lowered = password.lowercased()
        if let local = email?.value.lowercased(), local.count >= Self.minimumLocalPartMatch, lowered.contains(local) {
            found.append(.containsEmail)
        }
        if isCommon(lowered) { found.append(.common) }
        return found
    }

    /// A listed password, a listed password padded with digits or symbols
    /// (`password123456789!`), or one short unit repeated (`qwertyqwertyqwerty`).
    func isCommon(_ lowered: String) -> Bool {
        if blocklist.contains(lowered) { return true }
        let core = String(lowered.reversed().drop { !$0.isLetter }.reversed()).drop { !$0.isLetter }
        if !core.isEmpty, core.count < lowered.count, blocklist.contains(String(core)) { return true }
        let characters = Array(lowered)
        // An empty password has no unit to repeat (and would index past its end).
        guard characters.count > 1 else { return false }
        for unit in 1...(characters.count / 2) where characters.count % unit == 0 {
            let head = characters[0..<unit]
            if stride(from: unit, to: characters.count, by: unit).allSatisfy({ characters[$0..<$0 + unit] == head }) {
                return characters.count > unit
            }
        }
        return false
    }

    static func characterClasses(in password: String) -> Int {
        var lower = false, upper = false, digit = false, other = false
        for character in password {
            if character.isLowercase {
                lower = true
            } else if character.isUppercase {
                upper = true
            } else if character.isNumber {
                digit = true
            } else {
                other = true
            }
        }
        return [lower, upper, digit, other].filter { $0 }.count
    }
}

/// The part of an email before `@`, which a password must not contain.
public struct EmailLocalPart: Sendable {
    public let value: String
    public init(_ value: String) { self.value = value }
}

/// The shipped blocklist (`Resources/common-passwords.txt`; its header says
/// where the list comes from).
public enum CommonPasswords {
    public static func load() throws -> Set<String> {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt") else {
            throw CitadelError.resourceMissing("common-passwords.txt")
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        var entries = Set<String>()
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            entries.insert(line.lowercased())
        }
        return entries
    }
}
