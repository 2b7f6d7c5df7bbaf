public import Citadel
import Configuration
public import Forge
import Foundation
import SystemPackage
import TalosCore

/// Everything `talos serve` can be told, with secure defaults. Secrets are
/// not here: they live in files in the secrets directory.
public struct ServerSettings: Sendable {
    public var dataDirectory = "./talos-data"
    /// Defaults to `dataDirectory/secrets`; `/run/secrets` in containers.
    public var secretsDirectory: String?
    /// Loopback unless configured otherwise.
    public var host = "127.0.0.1"
    public var port = 8443
    /// PEM files of a real certificate chain and key; a self-signed
    /// development certificate is generated when both are absent.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// `postgres://user@host:port/db?sslmode=verify-full`; SQLite in the data dir when nil.
    public var databaseURL: String?
    public var databaseCAFile: String?
    /// - Warning: permits plain-text PostgreSQL to a non-loopback host.
    public var databaseAllowInsecureRemote = false
    public var metricsEnabled = true
    public var metricsHost = "127.0.0.1"
    public var metricsPort = 9464
    public var limits = HTTPLimits()
    public var rateLimits = RateLimitSettings()
    /// Peers whose `X-Forwarded-For` is believed (exact addresses).
    public var trustedProxies: [String] = []
    /// Free space the data and audit volumes must keep; under it `/readyz`
    /// fails, doctor warns, and requests that write are refused with 503
    /// before a full disk could fail a write half way.
    public var minimumFreeBytes: Int64 = 256 << 20
    /// Probe requests and rate-limit refusals are audited as one record per
    /// source per this many seconds, with a count.
    public var auditAggregateWindowSeconds: Int64 = 60
    /// A signed checkpoint every this many audit records.
    public var auditCheckpointInterval = 256
    public var logLevel = "info"
    /// At most this many super admins (2 or 3).
    public var maximumSuperAdmins = 3
    /// Sandbox defaults and the most a request may raise them to.
    public var sandboxPolicy = LimitPolicy()
    /// An operator's runtimes catalog replacing the built-in one.
    public var runtimesFile: String?
    public var sandboxConcurrency = 4
    /// Boxes created ahead per language asked for (`forge.pool_size`).
    public var sandboxPoolSize = 2
    /// Identity: tokens, lockout, password hashing, registration.
    public var citadel = CitadelSettings()
    /// The execution queue: leases, quotas, retention, request sizes.
    public var execution = ExecutionSettings()
    /// Run queue workers inside `talos serve` (off when only `talos worker`
    /// processes run code).
    public var inProcessWorkers = true
    /// crun's state directory and the bundles' directory; by default under
    /// `/run/talos/<engine>`, where `<engine>` names this node.
    public var sandboxStateDirectory: String?
    public var sandboxWorkDirectory: String?

    public init() {}

    /// Reads `configFile` (JSON) and `TALOS_*` environment variables, the
    /// environment winning. Refuses secrets in either.
    public static func load(configFile: String?, environment: [String: String]) async throws -> ServerSettings {
        try SecretStore.refuseSecrets(inEnvironment: environment)
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "talos")
        ]
        if let configFile {
            let bytes = try FileSystem.read(configFile)
            try refuseSecrets(inConfig: bytes)
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(configFile)))
        }
        let config = ConfigReader(providers: providers)
        var settings = ServerSettings()
        settings.dataDirectory = config.string(forKey: "data_dir", default: settings.dataDirectory)
        settings.secretsDirectory = config.string(forKey: "secrets_dir")
        settings.host = config.string(forKey: "server.host", default: settings.host)
        settings.port = config.int(forKey: "server.port", default: settings.port)
        settings.tlsCertificateFile = config.string(forKey: "tls.certificate_file")
        settings.tlsKeyFile = config.string(forKey: "tls.key_file")
        settings.databaseURL = config.string(forKey: "database.url")
        settings.databaseCAFile = config.string(forKey: "database.ca_file")
        settings.databaseAllowInsecureRemote = config.bool(forKey: "database.allow_insecure_remote", default: false)
        settings.metricsEnabled = config.bool(forKey: "metrics.enabled", default: true)
        settings.metricsHost = config.string(forKey: "metrics.host", default: settings.metricsHost)
        settings.metricsPort = config.int(forKey: "metrics.port", default: settings.metricsPort)
        settings.trustedProxies = config.stringArray(forKey: "server.trusted_proxies", default: [])
        settings.minimumFreeBytes = Int64(config.int(forKey: "storage.min_free_bytes", default: Int(settings.minimumFreeBytes)))
        settings.auditAggregateWindowSeconds = Int64(
            config.int(forKey: "audit.aggregate_window_seconds", default: Int(settings.auditAggregateWindowSeconds))
        )
        settings.auditCheckpointInterval = config.int(forKey: "audit.checkpoint_interval", default: 256)
        settings.logLevel = config.string(forKey: "log.level", default: "info")
        settings.maximumSuperAdmins = config.int(forKey: "citadel.max_super_admins", default: 3)
        settings.runtimesFile = config.string(forKey: "forge.runtimes_file")
        loadCitadel(config, into: &settings)
        settings.sandboxConcurrency = config.int(forKey: "forge.concurrency", default: 4)
        settings.sandboxPoolSize = config.int(forKey: "forge.pool_size", default: 2)
        loadExecution(config, into: &settings)
        for (name, keyPath) in SandboxLimits.names {
            settings.sandboxPolicy.defaults[keyPath: keyPath] = config.int(
                forKey: ConfigKey("forge.defaults.\(name)"), default: settings.sandboxPolicy.defaults[keyPath: keyPath]
            )
            settings.sandboxPolicy.maxima[keyPath: keyPath] = config.int(
                forKey: ConfigKey("forge.maxima.\(name)"), default: settings.sandboxPolicy.maxima[keyPath: keyPath]
            )
        }

        let limits = settings.limits
        settings.limits.maxBodyBytes = config.int(forKey: "http.max_body_bytes", default: limits.maxBodyBytes)
        settings.limits.maxHeaderBytes = config.int(forKey: "http.max_header_bytes", default: limits.maxHeaderBytes)
        settings.limits.maxURLBytes = config.int(forKey: "http.max_url_bytes", default: limits.maxURLBytes)
        settings.limits.idleTimeoutSeconds = config.int(forKey: "http.idle_timeout_seconds", default: limits.idleTimeoutSeconds)
        settings.limits.maxConnections = config.int(forKey: "http.max_connections", default: limits.maxConnections)
        settings.limits.maxConnectionsPerClient = config.int(
            forKey: "http.max_connections_per_client", default: limits.maxConnectionsPerClient
        )
        settings.limits.maxStreams = config.int(forKey: "http.max_streams", default: limits.maxStreams)
        settings.limits.maxStreamsPerPrincipal = config.int(forKey: "http.max_streams_per_principal", default: limits.maxStreamsPerPrincipal)
        settings.limits.requestTimeoutSeconds = config.int(
            forKey: "http.request_timeout_seconds", default: limits.requestTimeoutSeconds
        )
        for group in RateLimitGroup.allCases {
            let current = settings.rateLimits[group]
            settings.rateLimits[group] = RateLimitSettings.Bucket(
                burst: config.int(forKey: ConfigKey("ratelimit.\(group.rawValue).burst"), default: current.burst),
                perMinute: config.int(forKey: ConfigKey("ratelimit.\(group.rawValue).per_minute"), default: current.perMinute)
            )
        }
        try settings.validate()
        return settings
    }

    static func loadExecution(_ config: ConfigReader, into settings: inout ServerSettings) {
        var execution = settings.execution
        execution.maximumQueued = config.int(forKey: "forge.queue.max_queued", default: execution.maximumQueued)
        execution.leaseMilliseconds = Int64(config.int(forKey: "forge.queue.lease_ms", default: Int(execution.leaseMilliseconds)))
        execution.heartbeatMilliseconds = Int64(
            config.int(forKey: "forge.queue.heartbeat_ms", default: Int(execution.heartbeatMilliseconds))
        )
        execution.pollMilliseconds = Int64(config.int(forKey: "forge.queue.poll_ms", default: Int(execution.pollMilliseconds)))
        execution.maximumAttempts = config.int(forKey: "forge.queue.max_attempts", default: execution.maximumAttempts)
        execution.maximumWaitSeconds = config.int(forKey: "forge.queue.max_wait_seconds", default: execution.maximumWaitSeconds)
        execution.retentionSeconds = config.int(forKey: "forge.queue.retention_seconds", default: execution.retentionSeconds)
        execution.maximumSourceBytes = config.int(forKey: "forge.queue.max_source_bytes", default: execution.maximumSourceBytes)
        execution.maximumTests = config.int(forKey: "forge.queue.max_tests", default: execution.maximumTests)
        execution.jobBudget.cpuMilliseconds = config.int(forKey: "forge.job.cpu_ms", default: execution.jobBudget.cpuMilliseconds)
        execution.jobBudget.wallMilliseconds = config.int(forKey: "forge.job.wall_ms", default: execution.jobBudget.wallMilliseconds)
        execution.maximumRunningPerOwner = config.int(forKey: "forge.queue.max_running_per_owner", default: execution.maximumRunningPerOwner)
        execution.maximumEventBytesPerJob = config.int(forKey: "forge.queue.max_event_bytes", default: execution.maximumEventBytesPerJob)
        for role in [Role.owner, Role.consumer] {
            let current = execution.quota(for: role)
            execution.quotas[role] = ExecutionQuota(
                concurrentJobs: config.int(forKey: ConfigKey("forge.quotas.\(role.rawValue).concurrent_jobs"), default: current.concurrentJobs),
                jobsPerHour: config.int(forKey: ConfigKey("forge.quotas.\(role.rawValue).jobs_per_hour"), default: current.jobsPerHour),
                cpuSecondsPerDay: config.int(
                    forKey: ConfigKey("forge.quotas.\(role.rawValue).cpu_seconds_per_day"), default: current.cpuSecondsPerDay
                ),
                outputBytesPerDay: config.int(
                    forKey: ConfigKey("forge.quotas.\(role.rawValue).output_bytes_per_day"), default: current.outputBytesPerDay
                )
            )
        }
        settings.execution = execution
        settings.inProcessWorkers = config.bool(forKey: "forge.workers.in_process", default: true)
        settings.sandboxStateDirectory = config.string(forKey: "forge.state_dir")
        settings.sandboxWorkDirectory = config.string(forKey: "forge.work_dir")
    }

    static func loadCitadel(_ config: ConfigReader, into settings: inout ServerSettings) {
        var citadel = settings.citadel
        let defaultIssuer = settings.port == 443 ? "https://localhost" : "https://localhost:\(settings.port)"
        citadel.issuer = config.string(forKey: "citadel.issuer", default: defaultIssuer)
        citadel.audience = config.string(forKey: "citadel.audience", default: citadel.audience)
        func seconds(_ key: String, _ current: TimeInterval) -> TimeInterval {
            TimeInterval(config.int(forKey: ConfigKey(key), default: Int(current)))
        }
        citadel.accessTokenLifetime = seconds("citadel.access_token_seconds", citadel.accessTokenLifetime)
        citadel.refreshTokenLifetime = seconds("citadel.refresh_token_seconds", citadel.refreshTokenLifetime)
        citadel.sessionLifetime = seconds("citadel.session_seconds", citadel.sessionLifetime)
        citadel.signingKeyRotation = seconds("citadel.key_rotation_seconds", citadel.signingKeyRotation)
        citadel.lockoutThreshold = config.int(forKey: "citadel.lockout.threshold", default: citadel.lockoutThreshold)
        citadel.lockoutBase = seconds("citadel.lockout.base_seconds", citadel.lockoutBase)
        citadel.lockoutMaximum = seconds("citadel.lockout.maximum_seconds", citadel.lockoutMaximum)
        citadel.openRegistration = config.bool(forKey: "citadel.open_registration", default: false)
        citadel.hashingConcurrency = config.int(forKey: "citadel.hashing_concurrency", default: citadel.hashingConcurrency)
        citadel.argon2.memoryKiB = UInt32(clamping: config.int(forKey: "citadel.argon2.memory_kib", default: Int(citadel.argon2.memoryKiB)))
        citadel.argon2.iterations = UInt32(clamping: config.int(forKey: "citadel.argon2.iterations", default: Int(citadel.argon2.iterations)))
        citadel.argon2.parallelism = UInt32(clamping: config.int(forKey: "citadel.argon2.parallelism", default: Int(citadel.argon2.parallelism)))
        settings.citadel = citadel
    }

    static let sandboxCeilings: [String: Int] = [
        "memory_mib": 1 << 20, "pids": 1 << 22, "cpu_percent": 100 * 1024, "io_bytes_per_second": 1 << 40,
        "cpu_ms": 86_400_000, "wall_ms": 86_400_000, "output_bytes": 1 << 30, "tmpfs_mib": 1 << 20, "open_files": 1 << 20,
    ]

    func validate() throws {
        guard (0...65535).contains(port) else { throw ServerError.invalidConfiguration("server.port must be 0–65535 (0 picks a free port)") }
        guard (0...65535).contains(metricsPort) else { throw ServerError.invalidConfiguration("metrics.port must be 0–65535") }
        guard (tlsCertificateFile == nil) == (tlsKeyFile == nil) else {
            throw ServerError.invalidConfiguration("tls.certificate_file and tls.key_file go together")
        }
        do {
            try execution.validate()
        } catch let error as ForgeError {
            throw ServerError.invalidConfiguration(error.reason)
        }
        guard limits.maxBodyBytes > 0, limits.maxHeaderBytes >= 1024, limits.maxURLBytes >= 256 else {
            throw ServerError.invalidConfiguration("http limits are too small")
        }
        guard limits.maxConnections >= 1, limits.maxConnectionsPerClient >= 1, limits.maxStreams >= 1, limits.maxStreamsPerPrincipal >= 1,
            limits.maxStreamsPerPrincipal <= limits.maxStreams
        else {
            throw ServerError.invalidConfiguration("http.max_connections, http.max_streams and http.max_streams_per_principal must be at least 1")
        }
        guard minimumFreeBytes >= 0, (1...3600).contains(auditAggregateWindowSeconds) else {
            throw ServerError.invalidConfiguration("storage.min_free_bytes must not be negative; audit.aggregate_window_seconds must be 1–3600")
        }
        guard limits.idleTimeoutSeconds > 0, limits.requestTimeoutSeconds > 0 else {
            throw ServerError.invalidConfiguration("http timeouts must be positive")
        }
        for group in RateLimitGroup.allCases where rateLimits[group].burst < 1 || rateLimits[group].perMinute < 1 {
            throw ServerError.invalidConfiguration("ratelimit.\(group.rawValue) must allow at least one request")
        }
        guard (2...3).contains(maximumSuperAdmins) else {
            throw ServerError.invalidConfiguration("citadel.max_super_admins must be 2 or 3")
        }
        for (name, keyPath) in SandboxLimits.names {
            // Ceilings far above any real box, so the arithmetic on limits
            // (MiB to bytes, ms to ns) can never overflow.
            guard sandboxPolicy.maxima[keyPath: keyPath] <= Self.sandboxCeilings[name, default: 1 << 30] else {
                throw ServerError.invalidConfiguration(
                    "forge.maxima.\(name) must be at most \(Self.sandboxCeilings[name, default: 1 << 30])"
                )
            }
            let value = sandboxPolicy.defaults[keyPath: keyPath]
            guard value >= 1, value <= sandboxPolicy.maxima[keyPath: keyPath] else {
                throw ServerError.invalidConfiguration("forge.defaults.\(name) must be between 1 and forge.maxima.\(name)")
            }
        }
        guard (1...256).contains(sandboxConcurrency) else {
            throw ServerError.invalidConfiguration("forge.concurrency must be 1–256")
        }
        guard (0...16).contains(sandboxPoolSize) else {
            throw ServerError.invalidConfiguration("forge.pool_size must be 0–16")
        }
        var citadel = citadel
        citadel.maximumSuperAdmins = maximumSuperAdmins
        do {
            try citadel.validate()
        } catch let error as CitadelError {
            throw ServerError.invalidConfiguration(error.reason)
        }
        guard auditCheckpointInterval >= 1 else {
            throw ServerError.invalidConfiguration("audit.checkpoint_interval must be at least 1")
        }
    }

    /// Walks every key of the JSON configuration and refuses secret ones.
    static func refuseSecrets(inConfig bytes: [UInt8]) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw ServerError.invalidConfiguration("the configuration file is not valid JSON")
        }
        func walk(_ value: Any, path: String) throws {
            guard let dictionary = value as? [String: Any] else { return }
            for (key, child) in dictionary {
                let full = path.isEmpty ? key : path + "." + key
                if SecretStore.isSecretName(key) { throw ServerError.secretInConfigFile(full) }
                try walk(child, path: full)
            }
        }
        try walk(object, path: "")
    }
}

/// Size and time limits on every request and connection.
public struct HTTPLimits: Sendable {
    public var maxBodyBytes = 1 << 20
    public var maxHeaderBytes = 16 * 1024
    public var maxURLBytes = 4096
    /// A connection with no traffic this long is closed.
    public var idleTimeoutSeconds = 30
    /// A request must arrive whole (head and body) within this time of its
    /// first byte, so slow clients cannot hold connections open.
    public var requestTimeoutSeconds = 20
    /// Open connections the server accepts at once; past it a new one is
    /// closed at once (and audited), so a flood cannot exhaust descriptors.
    public var maxConnections = 1024
    /// Open connections from one client (IPv4 address or IPv6 /64); trusted
    /// proxies, which carry many clients, count only toward the total.
    public var maxConnectionsPerClient = 64
    /// Open server-sent-event streams, in all and per account.
    public var maxStreams = 256
    public var maxStreamsPerPrincipal = 4

    public init() {}
}

/// Which token bucket a route draws from.
public enum RateLimitGroup: String, CaseIterable, Sendable {
    /// Sign-in and other credential routes: tight.
    case auth
    /// Liveness and readiness probes: generous.
    case health
    /// Everything else.
    case api
}

/// Token-bucket sizes per route group, per client IP.
public struct RateLimitSettings: Sendable {
    public struct Bucket: Sendable, Equatable {
        /// Requests allowed at once from a full bucket.
        public var burst: Int
        /// Sustained refill rate.
        public var perMinute: Int

        public init(burst: Int, perMinute: Int) {
            self.burst = burst
            self.perMinute = perMinute
        }
    }

    private var buckets: [RateLimitGroup: Bucket] = [
        .auth: Bucket(burst: 10, perMinute: 20),
        .health: Bucket(burst: 600, perMinute: 60_000),
        .api: Bucket(burst: 120, perMinute: 1_200),
    ]

    public init() {}

    public subscript(group: RateLimitGroup) -> Bucket {
        get { buckets[group]! }
        set { buckets[group] = newValue }
    }
}
