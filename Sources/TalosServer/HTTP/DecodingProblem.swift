import Foundation

/// What a client is told when its JSON body does not decode: the field, at
/// most 100 characters of its path, never the value or the server's types.
enum DecodingProblem {
    static func explain(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let joined = codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "the body" : "`\(joined.prefix(100))`"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "Field \(path(context.codingPath + [key])) is required."
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "Field \(path(context.codingPath)) has the wrong type."
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "The body is not valid JSON." : "Field \(path(context.codingPath)) is invalid."
        @unknown default:
            return "The body is not valid JSON."
        }
    }
}
