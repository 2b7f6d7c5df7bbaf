import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TalosCore

/// `GET /openapi.json`: the OpenAPI 3.1 document of every route Talos
/// serves (`Sources/TalosServer/Resources/openapi.json`), with each route's
/// schemas and security requirement. A test holds it to the router: the
/// document lists exactly the registered routes, with their declared access.
struct OpenAPIController {
    /// The document's bytes, read once from the installation.
    static let document: [UInt8]? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            return nil
        }
        return Array(data)
    }()

    func register(on routes: DeclaredRoutes) {
        routes.on(.get, "/openapi.json", .anonymous) { _, _ -> Response in
            guard let document = Self.document else { throw Problem.internalError }
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document))
            )
        }
    }
}
