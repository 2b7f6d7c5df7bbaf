public import Citadel
import Crypto
public import Forge
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Hummingbird
import HummingbirdTLS
import HummingbirdCore
public import Ledger
public import Logging
import NIOCore
import NIOSSL
import TalosCore
public import TalosStore

/// Everything `talos serve` opens before it listens, in a fixed, fail-closed
/// order: permissions, secrets, TLS, database, migrations, audit trail.
public struct ServerRuntime: Sendable {
    public let settings: ServerSettings
    public let dataDirectory: DataDirectory
    public let database: TalosDatabase
    public let audit: AuditLog
    public let metrics: ServerMetrics
    public let node: String
    public let identity: IdentityService
    public let execution: ExecutionService
    /// In-process workers and the retention sweep.
    public let forge: ForgeService
    /// Every route's declared access, filled in by ``makeApplication(additionalRoutes:onServerRunning:)``.
    public let routeTable = RouteAccessTable()
    /// Probe requests and rate-limit refusals, counted into one record per
    /// source per window.
    let auditAggregator: AuditAggregator
    /// Free space on the data and audit volumes against the floor.
    let diskGuard: DiskGuard
    let tlsConfiguration: TLSConfiguration
    let logger: Logger
    /// The monotonic time rate-limit buckets refill by.
    let rateLimitClock: @Sendable () -> ContinuousClock.Instant

    /// Prepares the data directory and every dependency, stopping at the
    /// first failure with an error that says what to fix.
    ///
    /// - Parameters:
    ///   - clock: the time identity decisions use; tests move it.
    ///   - rateLimitClock: the monotonic time rate-limit buckets refill by;
    ///     tests stop it, so a slow machine refills nothing.
    public static func prepare(
        settings: ServerSettings, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
        rateLimitClock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) async throws -> ServerRuntime {
        try settings.validate()
        let dataDirectory = try DataDirectory.prepare(path: settings.dataDirectory, secretsPath: settings.secretsDirectory)
        let secrets = SecretStore(directory: dataDirectory.secretsPath)
        let createSecrets = settings.secretsDirectory == nil
        let masterKey = try secrets.key(.masterKey, byteCount: 32, createIfMissing: createSecrets)
        let signer = try Self.auditSigner(secrets: secrets, create: createSecrets)

        let certificate: String
        let key: String
        if let certificateFile = settings.tlsCertificateFile, let keyFile = settings.tlsKeyFile {
            (certificate, key) = (certificateFile, keyFile)
        } else {
            (certificate, key) = try DevelopmentCertificate.ensure(in: dataDirectory.tlsDirectory)
        }
        let tlsConfiguration = try TLSSetup.serverConfiguration(certificateFile: certificate, keyFile: key)

        let database = try TalosDatabase.open(
            try Self.databaseSettings(settings, dataDirectory: dataDirectory, secrets: secrets), logger: logger
        )
        do {
            try await database.ping()
            try await Migrator(database: database, logger: logger).migrate()
            let node = try dataDirectory.nodeID()
            let metrics = ServerMetrics()
            let audit = AuditLog(
                repository: SQLAuditRepository(database: database),
                node: node,
                signer: signer,
                sink: try AuditFileSink(path: dataDirectory.auditFile),
                checkpointInterval: settings.auditCheckpointInterval,
                logger: logger,
                onWritten: { metrics.auditWritten($0) }
            )
            var citadel = settings.citadel
            citadel.maximumSuperAdmins = settings.maximumSuperAdmins
            let identity = try IdentityService(
                settings: citadel, store: SQLAccountRepository(database: database), audit: audit,
                masterKey: Secret(masterKey.unsafeValue), policy: try PasswordPolicy.standard(), clock: clock
            )
            let signals = ExecutionSignals()
            let execution = ExecutionService(
                store: SQLExecutionStore(database: database), settings: settings.execution, catalog: try ForgeRuntime.catalog(settings),
                policy: settings.sandboxPolicy, audit: audit, signals: signals, logger: logger, clock: clock
            )
            var pool: ExecutionWorkerPool?
            var engine: SandboxEngine?
            if settings.inProcessWorkers {
                let created = try ForgeRuntime.makeEngine(settings: settings, node: node, role: "serve", audit: audit, logger: logger)
                engine = created
                pool = ForgeRuntime.makePool(
                    settings: settings, database: database, engine: created, audit: audit, signals: signals, name: "serve-\(node)",
                    logger: logger
                )
            }
            return ServerRuntime(
                settings: settings, dataDirectory: dataDirectory, database: database, audit: audit,
                metrics: metrics, node: node, identity: identity, execution: execution,
                forge: ForgeService(pool: pool, engine: engine, execution: execution, logger: logger),
                auditAggregator: AuditAggregator(audit: audit, logger: logger, window: .seconds(settings.auditAggregateWindowSeconds)),
                diskGuard: DiskGuard(paths: [dataDirectory.path, dataDirectory.auditDirectory], floorBytes: settings.minimumFreeBytes),
                tlsConfiguration: tlsConfiguration, logger: logger, rateLimitClock: rateLimitClock
            )
        } catch {
            try? await database.close()
            throw error
        }
    }

    static func databaseSettings(
        _ settings: ServerSettings, dataDirectory: DataDirectory, secrets: SecretStore
    ) throws -> DatabaseSettings {
        guard let url = settings.databaseURL else { return .sqlite(path: dataDirectory.sqlitePath) }
        var postgres = try PostgresSettings(
            url: url, password: try secrets.text(.databasePassword),
            allowInsecureRemote: settings.databaseAllowInsecureRemote
        )
        postgres.caFile = settings.databaseCAFile
        return .postgres(postgres)
    }

    static func auditSigner(secrets: SecretStore, create: Bool) throws -> CheckpointSigner {
        let raw = try secrets.key(.auditSigningKey, byteCount: 32, createIfMissing: create)
        do {
            return CheckpointSigner(key: try Curve25519.Signing.PrivateKey(rawRepresentation: raw.unsafeValue))
        } catch {
            throw ServerError.invalidSecret(SecretStore.Name.auditSigningKey.rawValue, "not an Ed25519 key")
        }
    }

    /// The HTTPS application: middleware, routes, TLS 1.3 listener.
    ///
    /// - Parameters:
    ///   - additionalRoutes: lets a caller mount more routes behind the same
    ///     middleware stack.
    ///   - onServerRunning: called with the bound channel once listening.
    public func makeApplication(
        additionalRoutes: (DeclaredRoutes) -> Void = { _ in },
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = Router(context: TalosRequestContext.self)
        router.add(
            middleware: RequestTrackingMiddleware(
                audit: audit, aggregator: auditAggregator, disk: diskGuard, metrics: metrics, logger: logger,
                trustedProxies: Set(settings.trustedProxies), bodyLimit: settings.limits.maxBodyBytes
            )
        )
        router.add(middleware: RequestLimitsMiddleware(limits: settings.limits))
        let limiter = RateLimiter(settings: settings.rateLimits, clock: rateLimitClock)
        router.add(middleware: RateLimitMiddleware(scope: .client, limiter: limiter, audit: auditAggregator, metrics: metrics, logger: logger))
        let table = routeTable
        router.add(middleware: AuthorizationMiddleware(table: table, identity: identity, audit: audit, logger: logger))
        router.add(middleware: RateLimitMiddleware(scope: .principal, limiter: limiter, audit: auditAggregator, metrics: metrics, logger: logger))
        let routes = DeclaredRoutes(group: router.group(), table: table)
        HealthController(database: database, migrator: Migrator(database: database, logger: logger), disk: diskGuard).register(on: routes)
        WellKnownController(identity: identity).register(on: routes)
        OpenAPIController().register(on: routes)
        AuthController(identity: identity).register(on: routes)
        MeController(identity: identity).register(on: routes)
        AdminController(identity: identity).register(on: routes)
        let sessions = SessionWatch(identity: identity)
        let streams = StreamGate(maximumTotal: settings.limits.maxStreams, maximumPerPrincipal: settings.limits.maxStreamsPerPrincipal)
        ExecutionsController(execution: execution, sessions: sessions, streams: streams).register(on: routes)
        Judge0Controller(execution: execution, sessions: sessions).register(on: routes)
        PistonController(execution: execution, sessions: sessions).register(on: routes)
        additionalRoutes(routes)

        let limits = settings.limits
        let tlsConfiguration = self.tlsConfiguration
        let audit = self.audit
        let logger = self.logger
        var decoder = HTTP1Channel.Configuration.DecoderConfiguration()
        decoder.maxHeaderFieldSize = max(limits.maxHeaderBytes * 4, 64 * 1024)
        decoder.maxHeaderListSize = max(limits.maxHeaderBytes * 4, 64 * 1024)
        decoder.maxHeaderFieldCount = 256
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestEndObserver()],
            idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds)),
            httpDecoderConfiguration: decoder
        )
        let connections = ConnectionCounter(
            maximum: limits.maxConnections, maximumPerClient: limits.maxConnectionsPerClient, proxies: Set(settings.trustedProxies)
        )
        let server = HTTPServerBuilder { responder in
            let tls = try TLSChannel(
                HTTP1Channel(responder: responder, configuration: http1), tlsConfiguration: tlsConfiguration
            )
            return GuardedChannel(
                base: tls, requestTimeout: .seconds(Int64(limits.requestTimeoutSeconds)),
                onTimeout: { peer in
                    logger.warning("slow client disconnected", metadata: ["client_ip": .string(peer?.ipAddress ?? "unknown")])
                    Task {
                        try? await audit.record(
                            AuditEvent(
                                actor: "anonymous", action: "http.slow_client", target: "connection", outcome: .denied,
                                sourceIP: peer?.ipAddress
                            )
                        )
                    }
                },
                connections: connections,
                onRefused: { count, peer in
                    logger.warning("connection limit reached", metadata: ["refused": "\(count)", "maximum": "\(limits.maxConnections)"])
                    Task {
                        try? await audit.record(
                            AuditEvent(
                                actor: "anonymous", action: "http.connection_refused", target: "connection", outcome: .denied,
                                sourceIP: peer?.ipAddress, details: ["count": String(count), "maximum": String(limits.maxConnections)]
                            )
                        )
                    }
                }
            )
        }
        var application = Application(
            router: router,
            server: server,
            configuration: .init(
                address: .hostname(settings.host, port: settings.port),
                serverName: nil
            ),
            onServerRunning: onServerRunning,
            logger: logger
        )
        application.addServices(forge, auditAggregator)
        if settings.metricsEnabled {
            application.addServices(MetricsListener(metrics: metrics, host: settings.metricsHost, port: settings.metricsPort, logger: logger).application)
        }
        return application
    }

    /// Writes the aggregated records counted so far (they are otherwise
    /// written once per window).
    public func flushAggregatedAudit() async {
        await auditAggregator.flush()
    }

    /// Records the stop and closes the database.
    public func close() async {
        await auditAggregator.flush()
        try? await audit.record(AuditEvent(actor: "system", action: "server.stop", target: node, outcome: .success))
        try? await database.close()
    }
}
