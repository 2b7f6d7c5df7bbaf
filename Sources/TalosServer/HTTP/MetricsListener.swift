import Hummingbird
import Logging

/// Prometheus text on its own plain-HTTP listener, 127.0.0.1:9464 by
/// default, so scraping never shares the public port.
///
/// - Warning: binding it beyond loopback exposes request counts and routes;
///   put it on a private network only.
struct MetricsListener {
    let metrics: ServerMetrics
    let host: String
    let port: Int
    let logger: Logger

    var application: some ApplicationProtocol {
        let router = Router()
        let metrics = self.metrics
        router.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: .init(string: metrics.render())))
        }
        var logger = self.logger
        logger[metadataKey: "listener"] = "metrics"
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            logger: logger
        )
    }
}
