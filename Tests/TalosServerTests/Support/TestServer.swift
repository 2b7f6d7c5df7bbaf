import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import TalosCore
import TalosServer
import TalosStore
import TalosTestSupport

/// Log lines the real JSON handler produced, kept for assertions.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func append(_ bytes: [UInt8]) {
        let line = String(decoding: bytes, as: UTF8.self)
        lines.withLock { $0.append(line) }
    }

    /// Parsed JSON objects of every line.
    var objects: [[String: String]] {
        all.compactMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
    }
}

/// Real time plus an offset the test can advance, for lockouts, step-up
/// windows and token expiry.
final class TestClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)

    var now: Date { Date().addingTimeInterval(offset.withLock { $0 }) }

    func advance(by seconds: TimeInterval) {
        offset.withLock { $0 += seconds }
    }
}

/// A real Talos server on an ephemeral loopback port, over TLS, on a
/// throwaway data directory and database.
struct TestServer: Sendable {
    let port: Int
    let runtime: ServerRuntime
    let log: CapturedLog
    let certificate: NIOSSLCertificate
    let test: TestDatabase

    var dataDirectory: String { runtime.dataDirectory.path }

    /// A data directory and settings pointing at `test`'s database, with the
    /// database password in the secrets directory when it is PostgreSQL.
    static func settings(for test: TestDatabase) throws -> ServerSettings {
        var settings = ServerSettings()
        settings.dataDirectory = test.directory + "/data"
        settings.port = 0
        settings.metricsEnabled = false
        if let url = test.postgresURL {
            settings.databaseURL = url
            try FileManager.default.createDirectory(atPath: settings.dataDirectory + "/secrets", withIntermediateDirectories: true)
            chmod(settings.dataDirectory, 0o700)
            chmod(settings.dataDirectory + "/secrets", 0o700)
            let password = try String(contentsOfFile: ProcessInfo.processInfo.environment["TEST_POSTGRES_PASSWORD_FILE"]!, encoding: .utf8)
            let path = settings.dataDirectory + "/secrets/database_password"
            _ = FileManager.default.createFile(atPath: path, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
        }
        return settings
    }

    static func logger(into log: CapturedLog) -> Logger {
        Logger(label: "talos") { label in
            JSONLogHandler(label: label, level: .info, sink: { log.append($0) })
        }
    }

    /// A rate-limit clock that never moves: buckets refill nothing however
    /// slowly a loaded machine sends a test's requests.
    static func stoppedClock() -> @Sendable () -> ContinuousClock.Instant {
        let stopped = ContinuousClock.now
        return { stopped }
    }

    /// Boots the server, runs `body`, shuts the server down.
    static func run(
        _ kind: DatabaseKind,
        configure: (inout ServerSettings) -> Void = { _ in },
        clock: TestClock = TestClock(),
        rateLimitClock: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        additionalRoutes: @escaping (DeclaredRoutes) -> Void = { _ in },
        _ body: @escaping @Sendable (TestServer) async throws -> Void
    ) async throws {
        try await TestDatabase.with(kind) { test in
            var settings = try settings(for: test)
            configure(&settings)
            let log = CapturedLog()
            let runtime = try await ServerRuntime.prepare(
                settings: settings, logger: logger(into: log), clock: { clock.now }, rateLimitClock: rateLimitClock
            )
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let application = try runtime.makeApplication(
                additionalRoutes: additionalRoutes,
                onServerRunning: { channel in
                    portContinuation.yield(channel.localAddress?.port ?? 0)
                    portContinuation.finish()
                }
            )
            guard let certificate = try NIOSSLCertificate.fromPEMFile(runtime.dataDirectory.tlsDirectory + "/dev-ca.pem").first
            else { throw TestSetupError("no development certificate") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await application.runService(gracefulShutdownSignals: []) }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw TestSetupError("server did not start") }
                let server = TestServer(port: port, runtime: runtime, log: log, certificate: certificate, test: test)
                do {
                    try await body(server)
                } catch {
                    group.cancelAll()
                    await runtime.close()
                    throw error
                }
                group.cancelAll()
            }
            await runtime.close()
        }
    }

    /// TLS 1.3 client trusting only the server's development certificate.
    func tlsConfiguration(maximumVersion: TLSVersion = .tlsv13, minimumVersion: TLSVersion = .tlsv13) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([certificate])
        configuration.minimumTLSVersion = minimumVersion
        configuration.maximumTLSVersion = maximumVersion
        return configuration
    }

    /// Runs `body` with one connected HTTPS client.
    func withClient<T: Sendable>(
        tls: TLSConfiguration? = nil, timeout: Duration = .seconds(10), _ body: @escaping @Sendable (TestClient) async throws -> T
    ) async throws -> T {
        try await TestClient.withClient(
            host: "127.0.0.1", port: port,
            configuration: .init(tlsConfiguration: tls ?? tlsConfiguration(), timeout: timeout, serverName: "localhost"),
            operation: body
        )
    }

    /// The audit records stored so far.
    func auditRecords() async throws -> [AuditRecord] {
        try await SQLAuditRepository(database: runtime.database).records(afterSeq: 0, limit: 100_000)
    }
}

extension TestClient.Response {
    var text: String { body.map { String(buffer: $0) } ?? "" }

    /// The RFC 9457 body of an error response.
    var problem: [String: ProblemField]? {
        guard headers[.contentType] == "application/problem+json", let body else { return nil }
        return try? JSONDecoder().decode([String: ProblemField].self, from: Data(body.readableBytesView))
    }
}

enum ProblemField: Decodable, Equatable {
    case string(String)
    case int(Int)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) { self = .int(value) } else { self = .string(try container.decode(String.self)) }
    }
}
