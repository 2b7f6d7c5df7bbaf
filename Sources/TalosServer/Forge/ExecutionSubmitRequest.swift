import Forge
import Foundation

/// The body of `POST /v1/executions`, as decoded from hostile JSON, and what
/// the queue stores for it.
struct ExecutionSubmitRequest: Decodable {
    let language: String
    let version: String?
    let source: String?
    let files: [FileInput]?
    let stdin: String?
    let args: [String]?
    let limits: LimitRequest?
    let compile_limits: LimitRequest?
    let tests: [TestInput]?
    let compare: String?
    let wait: WaitInput?

    struct FileInput: Decodable {
        let name: String?
        let content: String
        let encoding: String?
    }

    struct TestInput: Decodable {
        let stdin: String?
        let expected_stdout: String
    }

    /// `wait`: `true` waits up to the configured maximum, a number waits that many seconds.
    enum WaitInput: Decodable {
        case flag(Bool)
        case seconds(Int)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                self = .flag(flag)
            } else {
                self = .seconds(try container.decode(Int.self))
            }
        }
    }

    /// What the queue stores for this request.
    func spec() throws(InvalidRequestBody) -> ExecutionSpec {
        var sources: [ExecutionSpec.File] = []
        switch (source, files) {
        case (let source?, nil):
            sources = [ExecutionSpec.File(name: "", content: Data(source.utf8))]
        case (nil, let inputs?):
            for (index, input) in inputs.enumerated() {
                let content: Data
                switch input.encoding ?? "utf8" {
                case "utf8": content = Data(input.content.utf8)
                case "base64":
                    guard let decoded = Data(base64Encoded: input.content) else {
                        throw InvalidRequestBody("files.\(index).content is not valid base64.")
                    }
                    content = decoded
                default: throw InvalidRequestBody("files.\(index).encoding must be utf8 or base64.")
                }
                sources.append(ExecutionSpec.File(name: input.name ?? "", content: content))
            }
        default:
            throw InvalidRequestBody("Send either source or files.")
        }
        var mode = CompareMode.trimTrailingWhitespace
        if let compare {
            guard let parsed = CompareMode(rawValue: compare) else {
                throw InvalidRequestBody("compare must be one of \(CompareMode.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            mode = parsed
        }
        return ExecutionSpec(
            language: language, version: version ?? "", files: sources, stdin: Data((stdin ?? "").utf8),
            arguments: args ?? [], limits: limits ?? LimitRequest(), compileLimits: compile_limits ?? LimitRequest(),
            tests: tests.map { $0.map { ExecutionSpec.TestCase(stdin: Data(($0.stdin ?? "").utf8), expectedStdout: Data($0.expected_stdout.utf8)) } },
            compare: mode
        )
    }
}

/// Why a request body cannot be used; `message` is safe to show.
struct InvalidRequestBody: Error {
    let message: String

    init(_ message: String) { self.message = message }
}

/// The opaque `next_cursor` of `GET /v1/executions`: the creation time and
/// id of the last execution of a page.
enum ExecutionCursor {
    static func encode(createdAt: Int64, id: UUID) -> String {
        Data("\(createdAt):\(id.uuidString.lowercased())".utf8).base64EncodedString()
    }

    static func decode(_ text: String) -> (createdAt: Int64, id: UUID)? {
        guard text.utf8.count <= 128, let data = Data(base64Encoded: text), let string = String(data: data, encoding: .utf8) else { return nil }
        let parts = string.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let time = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else { return nil }
        return (time, id)
    }
}
