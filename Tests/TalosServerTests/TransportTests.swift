import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOSSL
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

@Suite("Transport: TLS 1.3 only, slow clients cut off")
struct TransportTests {
    @Test("TLS 1.3 is served; TLS 1.2 and plain HTTP are refused", arguments: DatabaseKind.available)
    func tlsOnly(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind) { server in
            let response = try await server.withClient { try await $0.get("/healthz") }
            #expect(response.status == .ok)
            #expect(response.text == #"{"status":"ok"}"#)

            await #expect(throws: (any Error).self, "a TLS 1.2 client must not complete a handshake") {
                _ = try await server.withClient(tls: server.tlsConfiguration(maximumVersion: .tlsv12, minimumVersion: .tlsv1)) {
                    try await $0.get("/healthz")
                }
            }

            let plain = TestClient(host: "127.0.0.1", port: server.port, configuration: .init(timeout: .seconds(5)))
            plain.connect()
            await #expect(throws: (any Error).self, "plain HTTP must get no HTTP answer") {
                _ = try await plain.get("/healthz")
            }
            try? await plain.shutdown()

            // The server is still healthy after the refused handshakes.
            let again = try await server.withClient { try await $0.get("/healthz") }
            #expect(again.status == .ok)
        }
    }

    @Test("a client that trickles a request is disconnected", arguments: [DatabaseKind.sqlite])
    func slowClient(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind, configure: { $0.limits.requestTimeoutSeconds = 1 }) { server in
            let socket = try RawSocket(port: server.port)
            // The first byte of a TLS record, then nothing.
            try socket.send([0x16])
            let started = ContinuousClock.now
            let received = try socket.receive(timeoutSeconds: 5)
            let waited = ContinuousClock.now - started
            #expect(received.isEmpty, "the server closes the connection")
            #expect(waited < .seconds(4))
            #expect(waited >= .milliseconds(800))
            // The record is written off the connection's path; give a busy
            // machine a few seconds to get to it.
            var recorded = false
            for _ in 0..<50 where !recorded {
                recorded = try await server.auditRecords().contains { $0.action == "http.slow_client" && $0.outcome == "denied" }
                if !recorded { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recorded)
            #expect(server.log.objects.contains { $0["message"] == "slow client disconnected" })
        }
    }
}

/// A blocking TCP socket on loopback, for speaking below HTTP.
struct RawSocket {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestSetupError("connect failed") }
    }

    func send(_ bytes: [UInt8]) throws {
        guard bytes.withUnsafeBytes({ Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw TestSetupError("send failed")
        }
    }

    /// Bytes until the peer closes or the timeout passes.
    func receive(timeoutSeconds: Int) throws -> [UInt8] {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        defer { close(descriptor) }
        guard count >= 0 else { throw TestSetupError("receive timed out: the connection stayed open") }
        return Array(buffer.prefix(count))
    }
}
