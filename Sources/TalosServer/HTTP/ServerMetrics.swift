public import Prometheus

/// Prometheus metrics of the server, served on their own loopback listener.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "talos", subsystem: "http", metricName: "requests", unitName: "total",
        helpText: "HTTP requests by route pattern, method and status"
    )
    }
    private static var latency: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "talos", subsystem: "http", metricName: "request_duration", unitName: "seconds",
        helpText: "HTTP request latency by route pattern"
    )
    }
    private static var refusals: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "talos", subsystem: "ratelimit", metricName: "refusals", unitName: "total",
        helpText: "Requests refused by the rate limiter, by route group"
    )
    }
    private static var audit: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "talos", subsystem: "audit", metricName: "records_written", unitName: "total",
        helpText: "Audit records committed by this process"
    )
    }
    private static let buckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    func request(route: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(descriptor: Self.latency, labels: [("route", route)], buckets: Self.buckets)
            .record(duration)
    }

    func rateLimitRefused(group: RateLimitGroup) {
        registry.makeCounter(descriptor: Self.refusals, labels: [("group", group.rawValue)]).increment()
    }

    func auditWritten(_ count: Int) {
        registry.makeCounter(descriptor: Self.audit).increment(by: Int64(count))
    }

    /// The exposition text.
    public func render() -> String {
        registry.emitToString()
    }
}
