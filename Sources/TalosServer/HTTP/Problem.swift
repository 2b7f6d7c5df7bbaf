#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import HTTPTypes
public import Hummingbird
import NIOCore
import Citadel
import TalosCore

/// An RFC 9457 problem: the only shape in which Talos reports an error.
///
/// `title` and `detail` are written for the client and never carry internal
/// state (no stack, SQL, path or type names). `type` is a stable URN clients
/// can match on.
public struct Problem: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let type: String
    public let title: String
    public let detail: String?
    public var headers: HTTPFields
    /// Machine-readable reasons (RFC 9457 extension member `errors`).
    public var errors: [String] = []

    public init(
        status: HTTPResponse.Status, type: String, title: String, detail: String? = nil, headers: HTTPFields = [:]
    ) {
        self.status = status
        self.type = "urn:talos:problem:" + type
        self.title = title
        self.detail = detail
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(requestID: (context as? TalosRequestContext)?.requestID.value)
    }

    func response(requestID: String?) -> Response {
        var body: [String: ProblemValue] = [
            "type": .string(type), "title": .string(title), "status": .int(Int(status.code)),
        ]
        if let detail { body["detail"] = .string(detail) }
        if let requestID { body["request_id"] = .string(requestID) }
        if !errors.isEmpty { body["errors"] = .strings(errors) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private enum ProblemValue: Encodable {
        case string(String)
        case int(Int)
        case strings([String])

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .int(let value): try container.encode(value)
            case .strings(let value): try container.encode(value)
            }
        }
    }
}

extension Problem {
    public static func badRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, type: "bad-request", title: "The request is malformed", detail: detail)
    }

    public static let notFound = Problem(status: .notFound, type: "not-found", title: "No such resource")

    public static let methodNotAllowed = Problem(
        status: .methodNotAllowed, type: "method-not-allowed", title: "Method not allowed on this resource"
    )

    public static func contentTooLarge(limit: Int) -> Problem {
        Problem(
            status: .contentTooLarge, type: "body-too-large", title: "The request body is too large",
            detail: "The limit is \(limit) bytes."
        )
    }

    public static func uriTooLong(limit: Int) -> Problem {
        Problem(
            status: .uriTooLong, type: "uri-too-long", title: "The request URL is too long",
            detail: "The limit is \(limit) bytes."
        )
    }

    public static func headersTooLarge(limit: Int) -> Problem {
        Problem(
            status: .requestHeaderFieldsTooLarge, type: "headers-too-large", title: "The request headers are too large",
            detail: "The limit is \(limit) bytes."
        )
    }

    public static func unsupportedMediaType(_ expected: String) -> Problem {
        Problem(
            status: .unsupportedMediaType, type: "unsupported-media-type",
            title: "Unsupported content type", detail: "Send \(expected)."
        )
    }

    /// The type of a rate limiter's refusal.
    static let rateLimitedType = "rate-limited"

    public static func tooManyRequests(retryAfterSeconds: Int) -> Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfterSeconds)
        return Problem(
            status: .tooManyRequests, type: rateLimitedType, title: "Too many requests",
            detail: "Retry after \(retryAfterSeconds) seconds.", headers: headers
        )
    }

    /// Refused before a write could fail half way: the disk is nearly full.
    public static let insufficientStorage = Problem(
        status: .serviceUnavailable, type: "insufficient-storage", title: "The server is low on disk space",
        detail: "New work is refused until an operator frees space. Try again later.", headers: [.retryAfter: "60"]
    )

    public static let serviceUnavailable = Problem(
        status: .serviceUnavailable, type: "unavailable", title: "The service is temporarily unavailable"
    )

    public static let internalError = Problem(
        status: .internalServerError, type: "internal", title: "Internal error",
        detail: "The error was logged; quote the request id when reporting it."
    )

    /// Maps any error to what the client may see. Only ``Problem`` speaks for
    /// itself; framework errors keep their status with a generic text, and
    /// everything else becomes an opaque 500.
    static func from(_ error: any Error) -> Problem {
        if let problem = error as? Problem { return problem }
        if let error = error as? CitadelError { return from(error) }
        if let httpError = error as? HTTPError {
            switch httpError.status {
            case .notFound: return .notFound
            case .methodNotAllowed: return .methodNotAllowed
            case .contentTooLarge: return .contentTooLarge(limit: 0).withoutDetail
            case .badRequest: return .badRequest("The request could not be understood.")
            case .unsupportedMediaType: return .unsupportedMediaType("application/json")
            default:
                if (400..<500).contains(httpError.status.code) {
                    return Problem(status: httpError.status, type: "client-error", title: httpError.status.reasonPhrase)
                }
                return .internalError
            }
        }
        return .internalError
    }

    var withoutDetail: Problem {
        Problem(status: status, type: String(type.dropFirst("urn:talos:problem:".count)), title: title, headers: headers)
    }
}

extension Problem {
    /// A missing or unusable access token (RFC 6750 §3).
    public static let unauthenticated = Problem(
        status: .unauthorized, type: "unauthenticated", title: "Authentication required",
        detail: "Send a valid access token in the Authorization header.",
        headers: [.wwwAuthenticate: #"Bearer realm="talos""#]
    )

    public static let invalidAccessToken = Problem(
        status: .unauthorized, type: "invalid-token", title: "The access token is invalid or expired",
        headers: [.wwwAuthenticate: #"Bearer realm="talos", error="invalid_token""#]
    )

    public static let forbidden = Problem(
        status: .forbidden, type: "forbidden", title: "You are not allowed to do this"
    )

    /// RFC 9470: the operation needs a recent sign-in (with MFA if enrolled).
    public static func stepUpRequired(maxAgeSeconds: Int) -> Problem {
        Problem(
            status: .unauthorized, type: "step-up-required", title: "Sign in again to do this",
            detail: "This operation needs a sign-in within the last \(maxAgeSeconds / 60) minutes, with your second factor if enrolled.",
            headers: [
                .wwwAuthenticate:
                    #"Bearer realm="talos", error="insufficient_user_authentication", max_age="# + String(maxAgeSeconds)
            ]
        )
    }

    public static let mfaEnrollmentRequired = Problem(
        status: .forbidden, type: "mfa-enrollment-required", title: "Enrol a second factor first",
        detail: "Super admins can reach nothing but MFA enrollment until TOTP is on: POST /v1/me/mfa/totp."
    )

    public static let tokenInURL = Problem(
        status: .badRequest, type: "token-in-url", title: "Tokens are not accepted in URLs",
        detail: "Send the access token in the Authorization header."
    )

    static func from(_ error: CitadelError) -> Problem {
        switch error.code {
        case .invalidCredentials:
            return Problem(status: .unauthorized, type: "invalid-credentials", title: "Sign-in failed", detail: error.reason)
        case .wrongPassword:
            return Problem(status: .forbidden, type: "wrong-password", title: "The current password is wrong", detail: error.reason)
        case .accountLocked:
            return Problem(status: HTTPResponse.Status(code: 423, reasonPhrase: "Locked"), type: "account-locked", title: "The account is locked", detail: error.reason)
        case .invalidToken:
            return Problem(status: .unauthorized, type: "invalid-token", title: "The token is invalid or expired", detail: error.reason)
        case .invalidMFACode:
            return Problem(status: .unauthorized, type: "invalid-mfa-code", title: "The code is invalid", detail: error.reason)
        case .weakPassword:
            var problem = Problem(
                status: .unprocessableContent, type: "weak-password", title: "The password does not meet the policy",
                detail: error.violations.map(\.message).joined(separator: " ")
            )
            problem.errors = error.violations.map(\.rawValue)
            return problem
        case .invalidInput:
            return Problem(status: .unprocessableContent, type: "invalid-input", title: "The request is invalid", detail: error.reason)
        case .forbidden:
            return .forbidden
        case .stepUpRequired:
            return .stepUpRequired(maxAgeSeconds: 300)
        case .notFound:
            return .notFound
        case .conflict:
            return Problem(status: .conflict, type: "conflict", title: "The request conflicts with the current state", detail: error.reason)
        case .overloaded:
            var problem = Problem.serviceUnavailable
            problem.headers[.retryAfter] = "1"
            return problem
        case .resourceMissing, .hashingFailed, .invalidConfiguration, .corruptData:
            return .internalError
        }
    }
}
