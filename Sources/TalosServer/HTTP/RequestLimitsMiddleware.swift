import HTTPTypes
import Hummingbird
import NIOCore

/// Refuses requests whose URL, headers or declared body exceed the limits,
/// before any route sees them. Bodies without a length are cut off at the
/// limit while they are read.
struct RequestLimitsMiddleware: RouterMiddleware {
    typealias Context = TalosRequestContext

    let limits: HTTPLimits

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if request.uri.string.utf8.count > limits.maxURLBytes {
            throw Problem.uriTooLong(limit: limits.maxURLBytes)
        }
        var headerBytes = 0
        for field in request.headers {
            headerBytes += field.name.rawName.utf8.count + field.value.utf8.count + 4
        }
        if headerBytes > limits.maxHeaderBytes {
            throw Problem.headersTooLarge(limit: limits.maxHeaderBytes)
        }
        if let declared = request.headers[.contentLength] {
            guard let length = Int(declared), length >= 0 else {
                throw Problem.badRequest("Content-Length is not a number.")
            }
            if length > limits.maxBodyBytes {
                throw Problem.contentTooLarge(limit: limits.maxBodyBytes)
            }
        }
        return try await next(request, context)
    }
}
