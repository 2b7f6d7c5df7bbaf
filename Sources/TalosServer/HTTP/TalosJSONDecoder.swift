#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Hummingbird
import NIOCore

/// Decodes JSON request bodies strictly: `application/json` only, valid UTF-8
/// only, within the body limit, and with errors that name the problem without
/// echoing the input or the server's types.
public struct TalosJSONDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let bytes = try await Self.body(of: request, context: context)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw Problem.badRequest(DecodingProblem.explain(error))
        } catch {
            throw Problem.badRequest("The body is not valid JSON.")
        }
    }

    /// The body of a JSON request: `application/json` only, within the body
    /// limit, valid UTF-8; a problem otherwise.
    static func body(of request: Request, context: some RequestContext) async throws -> [UInt8] {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType == "application/json" || contentType.hasPrefix("application/json;") else {
            throw Problem.unsupportedMediaType("application/json")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Problem.contentTooLarge(limit: context.maxUploadSize)
        }
        let bytes = Array(buffer.readableBytesView)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw Problem.badRequest("The body is not valid UTF-8.")
        }
        return bytes
    }
}
