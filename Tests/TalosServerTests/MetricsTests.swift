import Foundation
import HTTPTypes
import HummingbirdTesting
import TalosServer
import TalosTestSupport
import Testing

@Suite("Metrics listener")
struct MetricsTests {
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length)
                return getsockname(descriptor, pointer, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("requests, latency, refusals and audit writes are exposed on loopback only", arguments: [DatabaseKind.sqlite])
    func exposition(_ kind: DatabaseKind) async throws {
        let metricsPort = try Self.freePort()
        try await TestServer.run(kind, configure: { settings in
            settings.metricsEnabled = true
            settings.metricsPort = metricsPort
            settings.rateLimits[.health] = .init(burst: 2, perMinute: 1)
        }, rateLimitClock: TestServer.stoppedClock()) { server in
            _ = try await server.withClient { client in
                for _ in 0..<3 { _ = try await client.get("/healthz") }
            }
            #expect(server.runtime.settings.metricsHost == "127.0.0.1")
            let text = try await TestClient.withClient(host: "127.0.0.1", port: metricsPort) { client in
                try await client.get("/metrics").text
            }
            #expect(text.contains(#"talos_http_requests_total{route="/healthz",method="GET",status="200"} 2"#))
            #expect(text.contains(#"talos_http_requests_total{route="/healthz",method="GET",status="429"} 1"#))
            #expect(text.contains("talos_http_request_duration_seconds_bucket"))
            #expect(text.contains(#"talos_ratelimit_refusals_total{group="health"} 1"#))
            #expect(text.contains("talos_audit_records_written_total"))
        }
    }
}
