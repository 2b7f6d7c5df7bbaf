import Foundation

/// The input list of a GNU ld script.
enum LinkerScript {
    /// The file names and `-l` names inside `GROUP ( … )`, `INPUT ( … )` and
    /// `AS_NEEDED ( … )`; nil if `text` is not a script that only names inputs.
    static func inputs(of text: String) -> [String]? {
        var uncommented = ""
        var rest = Substring(text)
        while let start = rest.range(of: "/*") {
            uncommented += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].range(of: "*/") else { return nil }
            rest = rest[end.upperBound...]
        }
        uncommented += rest
        let tokens = uncommented.replacingOccurrences(of: "(", with: " ( ").replacingOccurrences(of: ")", with: " ) ")
            .split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "," }).map(String.init)
        var inputs: [String] = []
        var depth = 0
        var inList = false
        var index = 0
        while index < tokens.count {
            let token = tokens[index]
            index += 1
            switch token {
            case "GROUP", "INPUT", "AS_NEEDED":
                guard index < tokens.count, tokens[index] == "(" else { return nil }
                index += 1
                depth += 1
                inList = true
            case "OUTPUT_FORMAT", "OUTPUT_ARCH", "SEARCH_DIR":
                // Settings, not inputs: skip the parenthesised argument.
                guard index < tokens.count, tokens[index] == "(",
                    let close = tokens[index...].firstIndex(of: ")")
                else { return nil }
                index = close + 1
            case "(":
                // Only a keyword opens a list.
                return nil
            case ")":
                guard depth > 0 else { return nil }
                depth -= 1
                inList = depth > 0
            default:
                guard inList, !token.isEmpty, !token.contains("..") else { return nil }
                inputs.append(token)
            }
        }
        return depth == 0 && !inputs.isEmpty ? inputs : nil
    }
}
