/// The hard limits of one sandboxed stage. Units are in the names.
public struct SandboxLimits: Sendable, Codable, Equatable {
    /// Memory, tmpfs pages included; swap is always 0.
    public var memoryMiB: Int
    public var pids: Int
    /// Share of one core, in percent.
    public var cpuPercent: Int
    /// Read and write throttle on the box's block device.
    public var ioBytesPerSecond: Int
    /// CPU time across all the stage's processes.
    public var cpuMilliseconds: Int
    public var wallMilliseconds: Int
    /// Per stream (stdout, stderr); the rest is dropped and flagged.
    public var outputBytes: Int
    /// Size of each of `/tmp` and the working directory.
    public var tmpfsMiB: Int
    public var openFiles: Int

    public init(
        memoryMiB: Int, pids: Int, cpuPercent: Int, ioBytesPerSecond: Int, cpuMilliseconds: Int,
        wallMilliseconds: Int, outputBytes: Int, tmpfsMiB: Int, openFiles: Int
    ) {
        self.memoryMiB = memoryMiB
        self.pids = pids
        self.cpuPercent = cpuPercent
        self.ioBytesPerSecond = ioBytesPerSecond
        self.cpuMilliseconds = cpuMilliseconds
        self.wallMilliseconds = wallMilliseconds
        self.outputBytes = outputBytes
        self.tmpfsMiB = tmpfsMiB
        self.openFiles = openFiles
    }

    /// The defaults of the requirements: half a core, 512 MiB, 100 PIDs, 10 MB/s.
    public static let defaults = SandboxLimits(
        memoryMiB: 512, pids: 100, cpuPercent: 50, ioBytesPerSecond: 10_000_000, cpuMilliseconds: 5_000,
        wallMilliseconds: 10_000, outputBytes: 64 * 1024, tmpfsMiB: 64, openFiles: 256
    )

    /// What an operator allows a request to raise limits to, unless configured.
    public static let defaultMaxima = SandboxLimits(
        memoryMiB: 1024, pids: 256, cpuPercent: 100, ioBytesPerSecond: 50_000_000, cpuMilliseconds: 30_000,
        wallMilliseconds: 60_000, outputBytes: 1024 * 1024, tmpfsMiB: 256, openFiles: 1024
    )

    enum CodingKeys: String, CodingKey {
        case memoryMiB = "memory_mib"
        case pids
        case cpuPercent = "cpu_percent"
        case ioBytesPerSecond = "io_bytes_per_second"
        case cpuMilliseconds = "cpu_ms"
        case wallMilliseconds = "wall_ms"
        case outputBytes = "output_bytes"
        case tmpfsMiB = "tmpfs_mib"
        case openFiles = "open_files"
    }

    /// Every limit with its wire name, for configuration, checks and messages.
    public static var names: [(name: String, keyPath: WritableKeyPath<SandboxLimits, Int>)] {
        [
            ("memory_mib", \.memoryMiB), ("pids", \.pids), ("cpu_percent", \.cpuPercent),
            ("io_bytes_per_second", \.ioBytesPerSecond), ("cpu_ms", \.cpuMilliseconds),
            ("wall_ms", \.wallMilliseconds), ("output_bytes", \.outputBytes), ("tmpfs_mib", \.tmpfsMiB),
            ("open_files", \.openFiles),
        ]
    }
}

/// Limits a caller asks for; anything left out keeps the default.
public struct LimitRequest: Sendable, Codable, Equatable {
    public var memoryMiB: Int?
    public var pids: Int?
    public var cpuPercent: Int?
    public var ioBytesPerSecond: Int?
    public var cpuMilliseconds: Int?
    public var wallMilliseconds: Int?
    public var outputBytes: Int?
    public var tmpfsMiB: Int?
    public var openFiles: Int?

    public init(
        memoryMiB: Int? = nil, pids: Int? = nil, cpuPercent: Int? = nil, ioBytesPerSecond: Int? = nil,
        cpuMilliseconds: Int? = nil, wallMilliseconds: Int? = nil, outputBytes: Int? = nil, tmpfsMiB: Int? = nil,
        openFiles: Int? = nil
    ) {
        self.memoryMiB = memoryMiB
        self.pids = pids
        self.cpuPercent = cpuPercent
        self.ioBytesPerSecond = ioBytesPerSecond
        self.cpuMilliseconds = cpuMilliseconds
        self.wallMilliseconds = wallMilliseconds
        self.outputBytes = outputBytes
        self.tmpfsMiB = tmpfsMiB
        self.openFiles = openFiles
    }

    /// The same wire names as ``SandboxLimits``.
    typealias CodingKeys = SandboxLimits.CodingKeys

    /// These values, with every value `other` sets taking precedence.
    public func overridden(by other: LimitRequest) -> LimitRequest {
        var merged = self
        for (_, keyPath) in Self.names {
            if let value = other[keyPath: keyPath] { merged[keyPath: keyPath] = value }
        }
        return merged
    }

    /// Each optional limit beside its ``SandboxLimits`` counterpart.
    static var names: [(name: String, keyPath: WritableKeyPath<LimitRequest, Int?>)] {
        [
            ("memory_mib", \.memoryMiB), ("pids", \.pids), ("cpu_percent", \.cpuPercent),
            ("io_bytes_per_second", \.ioBytesPerSecond), ("cpu_ms", \.cpuMilliseconds),
            ("wall_ms", \.wallMilliseconds), ("output_bytes", \.outputBytes), ("tmpfs_mib", \.tmpfsMiB),
            ("open_files", \.openFiles),
        ]
    }

    var values: [String: Int] {
        var values: [String: Int] = [:]
        for (name, keyPath) in Self.names { values[name] = self[keyPath: keyPath] }
        return values
    }
}

/// Resolves requested limits against defaults and operator maxima.
public struct LimitPolicy: Sendable, Equatable {
    public var defaults: SandboxLimits
    public var maxima: SandboxLimits

    public init(defaults: SandboxLimits = .defaults, maxima: SandboxLimits = .defaultMaxima) {
        self.defaults = defaults
        self.maxima = maxima
    }

    /// A request may lower any limit; it may raise one only up to the
    /// operator's maximum. Anything else is refused, never silently clamped.
    public func resolve(_ request: LimitRequest) throws -> SandboxLimits {
        var limits = defaults
        let requested = request.values
        for (name, keyPath) in SandboxLimits.names {
            guard let value = requested[name] else { continue }
            guard value >= 1 else { throw ForgeError.invalidLimit(name) }
            guard value <= maxima[keyPath: keyPath] else {
                throw ForgeError.limitAboveMaximum(name, maximum: maxima[keyPath: keyPath])
            }
            limits[keyPath: keyPath] = value
        }
        return limits
    }
}
