import Forge
import Foundation
import TalosCore

/// A Piston v2 execute request read into an execution, checked against the
/// runtimes Talos runs and the operator's maxima. Numbers are finite and in
/// range before any conversion (`UntrustedNumber`).
struct PistonRequest {
    let runtimes: [Runtime]
    let maxima: SandboxLimits

    static let aliases: [String: [String]] = [
        "python": ["py", "py3", "python3"], "javascript": ["js", "node-js", "node-javascript", "node"], "go": ["golang"],
        "rust": ["rs"], "c": ["gcc"], "cpp": ["c++", "g++"],
    ]

    enum Built {
        case success(ExecutionSpec)
        case failure(String)
    }

    /// The execution a request asks for, or Piston's message for the first
    /// thing wrong with it.
    func read(_ body: [String: OrderedJSON]) -> Built {
        guard case .string(let language) = body["language"] ?? .null else { return .failure("language is required as a string") }
        guard case .string(let version) = body["version"] ?? .null else { return .failure("version is required as a string") }
        guard case .array(let files) = body["files"] ?? .null else { return .failure("files is required as an array") }
        let wanted = language.lowercased()
        guard
            let runtime = runtimes.first(where: {
                ($0.language == wanted || (Self.aliases[$0.language] ?? []).contains(wanted)) && Self.version($0.version, matches: version)
            })
        else { return .failure("\(language.prefix(40))-\(version.prefix(40)) runtime is unknown") }
        var sources: [ExecutionSpec.File] = []
        for (index, file) in files.enumerated() {
            guard case .object(let members) = file, case .string(let content) = members.first(where: { $0.0 == "content" })?.1 ?? .null else {
                return .failure("files[\(index)].content is required as a string")
            }
            var name = ""
            if case .string(let given) = members.first(where: { $0.0 == "name" })?.1 ?? .null { name = given }
            if name.isEmpty { name = index == 0 ? runtime.sourceFile : "file\(index).\(runtime.fileExtension)" }
            var encoding = "utf8"
            if case .string(let given) = members.first(where: { $0.0 == "encoding" })?.1 ?? .null, ["base64", "hex"].contains(given) {
                encoding = given
            }
            let data: Data?
            switch encoding {
            case "base64": data = Data(base64Encoded: content)
            case "hex": data = Self.hex(content)
            default: data = Data(content.utf8)
            }
            guard let data else { return .failure("files[\(index)].content is not valid \(encoding)") }
            sources.append(ExecutionSpec.File(name: name, content: data))
        }
        guard !sources.isEmpty else { return .failure("files must include at least one utf8 encoded file") }
        var stdin = Data()
        if case .string(let text) = body["stdin"] ?? .null {
            stdin = Data(text.utf8)
            // Piston ends standard input with a newline.
            if stdin.last != UInt8(ascii: "\n") { stdin.append(UInt8(ascii: "\n")) }
        }
        var arguments: [String] = []
        if case .array(let values) = body["args"] ?? .null {
            for value in values {
                guard case .string(let argument) = value else { return .failure("args must be an array of strings") }
                arguments.append(argument)
            }
        }
        var limits = LimitRequest()
        var compileLimits = LimitRequest()
        let numeric: [(String, Int, (inout LimitRequest, Int) -> Void, Bool)] = [
            ("run_timeout", maxima.wallMilliseconds, { $0.wallMilliseconds = $1 }, false),
            ("compile_timeout", maxima.wallMilliseconds, { $0.wallMilliseconds = $1 }, true),
            ("run_cpu_time", maxima.cpuMilliseconds, { $0.cpuMilliseconds = $1 }, false),
            ("compile_cpu_time", maxima.cpuMilliseconds, { $0.cpuMilliseconds = $1 }, true),
            ("run_memory_limit", maxima.memoryMiB * 1024 * 1024, { $0.memoryMiB = max(1, ($1 + (1 << 20) - 1) >> 20) }, false),
            ("compile_memory_limit", maxima.memoryMiB * 1024 * 1024, { $0.memoryMiB = max(1, ($1 + (1 << 20) - 1) >> 20) }, true),
        ]
        for (name, maximum, apply, isCompile) in numeric {
            guard let value = body[name] else { continue }
            switch value {
            case .null: continue
            case .number(let text):
                // Finite values only: NaN and infinity would reach a trapping conversion.
                guard let number = UntrustedNumber.finite(text) else { return .failure("If specified, \(name) must be a number") }
                if number == 0 || number == -1 { continue }
                if number < 0 { return .failure("\(name) must be non-negative") }
                guard let whole = UntrustedNumber.integer(number, in: 0...maximum) else {
                    return .failure("\(name) cannot exceed the configured limit of \(maximum)")
                }
                if whole == 0 { return .failure("\(name) must be at least 1") }
                if isCompile { apply(&compileLimits, whole) } else { apply(&limits, whole) }
            default: return .failure("If specified, \(name) must be a number")
            }
        }
        return .success(
            ExecutionSpec(
                language: runtime.language, version: runtime.version, files: sources, stdin: stdin, arguments: arguments, limits: limits,
                compileLimits: compileLimits
            )
        )
    }

    /// `*`, the exact version, or a prefix of it (`3`, `3.x`).
    static func version(_ available: String, matches wanted: String) -> Bool {
        if wanted == "*" || wanted == available { return true }
        let prefix = wanted.hasSuffix(".x") ? String(wanted.dropLast(2)) : wanted
        return !prefix.isEmpty && (available.hasPrefix(prefix + ".") || available == prefix)
    }

    static func hex(_ text: String) -> Data? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return Data(bytes)
    }
}
