import CoreFoundation
import Foundation

/// JSON whose object keys keep the order they were given in, for the
/// compatible APIs whose clients see the original servers' key order.
indirect enum OrderedJSON {
    case string(String)
    case int(Int)
    /// A number written as given, e.g. `5.0`.
    case number(String)
    case bool(Bool)
    case null
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    /// A value from `JSONSerialization` as ordered JSON.
    static func from(parsed value: Any) -> OrderedJSON {
        switch value {
        case let dictionary as [String: Any]: return .object(dictionary.map { ($0.key, from(parsed: $0.value)) })
        case let array as [Any]: return .array(array.map(from(parsed:)))
        case let string as String: return .string(string)
        case let number as NSNumber:
            if CFGetTypeID(number) == CFBooleanGetTypeID() { return .bool(number.boolValue) }
            return .number(number.stringValue)
        default: return .null
        }
    }

    static func optional(_ text: String?) -> OrderedJSON { text.map(OrderedJSON.string) ?? .null }

    static func optional(_ value: Int?) -> OrderedJSON { value.map(OrderedJSON.int) ?? .null }

    var text: String {
        switch self {
        case .string(let value): return Self.quote(value)
        case .int(let value): return String(value)
        case .number(let value): return value
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .array(let values): return "[" + values.map(\.text).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { Self.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ string: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(string)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}
