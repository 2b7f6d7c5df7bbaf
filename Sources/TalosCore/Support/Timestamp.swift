#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// RFC 3339 UTC timestamps with milliseconds, the one time format of records,
/// logs and APIs. Fixed width, so they also sort as strings.
public enum Timestamp {
    public static func string(from date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        )
    }

    public static func now() -> String {
        string(from: Date())
    }

    /// Parses RFC 3339 with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
            return date
        }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}
