/// Numbers from hostile text, converted without ever trapping.
///
/// `Double(text)` accepts `"nan"`, `"inf"` and `"1e400"` (infinity), and
/// `Int(_: Double)` traps on NaN, ±infinity and anything past `Int.max`. A
/// number that a request carries is read here first: only finite values in
/// the caller's range come back; everything else is `nil`, which the caller
/// turns into a 4xx naming the field.
public enum UntrustedNumber {
    /// `text` as a finite decimal number, or `nil` for NaN, ±infinity,
    /// hexadecimal (`0x10`, which `Double` would accept), anything but
    /// digits, sign, point and exponent, and text longer than any sensible
    /// number (64 bytes).
    public static func finite(_ text: some StringProtocol) -> Double? {
        guard text.utf8.count <= 64, !text.isEmpty,
            text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || "+-.eE".utf8.contains($0) }),
            let value = Double(String(text)), value.isFinite
        else { return nil }
        return value
    }

    /// `value` truncated toward zero, if that lies in `range`.
    public static func integer(_ value: Double, in range: ClosedRange<Int>) -> Int? {
        guard value.isFinite, value >= Double(range.lowerBound), value < Double(range.upperBound) + 1 else { return nil }
        guard let whole = Int(exactly: value.rounded(.towardZero)), range.contains(whole) else { return nil }
        return whole
    }

    /// `text` as a whole number in `range`, decimal digits only (an optional
    /// leading `-`), or `nil`.
    public static func integer(_ text: some StringProtocol, in range: ClosedRange<Int>) -> Int? {
        guard text.utf8.count <= 20, let value = Int(String(text)), range.contains(value) else { return nil }
        return value
    }
}
