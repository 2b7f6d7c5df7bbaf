public import Forge
public import Ledger
public import Logging
public import ServiceLifecycle
import TalosCore
public import TalosStore

/// The Forge pieces a process runs: the sandbox engine and the queue's
/// workers, for `talos serve` (in-process workers) and `talos worker`.
public enum ForgeRuntime {
    /// An engine whose crun state, bundles and cgroups are named after this
    /// node and `role`, so engines of different processes never reap each
    /// other's boxes, and a restarted one reaps what its predecessor left.
    public static func makeEngine(settings: ServerSettings, node: String, role: String, audit: AuditLog, logger: Logger) throws
        -> SandboxEngine
    {
        let engineID = "\(role)-\(node)"
        let base = "/run/talos/\(engineID)"
        var configuration = SandboxConfiguration(
            stateDirectory: settings.sandboxStateDirectory ?? base + "/state",
            workDirectory: settings.sandboxWorkDirectory ?? base + "/work", engineID: engineID,
            maximumConcurrentRuns: settings.sandboxConcurrency, policy: settings.sandboxPolicy
        )
        configuration.poolSize = settings.sandboxPoolSize
        return try SandboxEngine(
            configuration: configuration,
            catalog: try catalog(settings), audit: audit, logger: logger
        )
    }

    public static func catalog(_ settings: ServerSettings) throws -> RuntimeCatalog {
        try settings.runtimesFile.map(RuntimeCatalog.load(path:)) ?? RuntimeCatalog.builtIn()
    }

    public static func makePool(
        settings: ServerSettings, database: TalosDatabase, engine: SandboxEngine, audit: AuditLog, signals: ExecutionSignals,
        name: String, logger: Logger
    ) -> ExecutionWorkerPool {
        ExecutionWorkerPool(
            store: SQLExecutionStore(database: database), engine: engine, audit: audit, settings: settings.execution,
            signals: signals, name: name, logger: logger
        )
    }
}

/// Runs a worker pool (and, in `talos serve`, the retention sweep) until a
/// graceful shutdown, letting jobs in progress finish.
public struct ForgeService: Service {
    let pool: ExecutionWorkerPool?
    let engine: SandboxEngine?
    /// Prunes finished jobs past their retention; nil in `talos worker`,
    /// whose database role cannot delete.
    let execution: ExecutionService?
    let logger: Logger

    public init(pool: ExecutionWorkerPool?, engine: SandboxEngine?, execution: ExecutionService?, logger: Logger) {
        self.pool = pool
        self.engine = engine
        self.execution = execution
        self.logger = logger
    }

    public func run() async throws {
        let pool = self.pool
        let execution = self.execution
        let logger = self.logger
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if let pool { group.addTask { await pool.run() } }
                if let execution {
                    group.addTask {
                        while !Task.isCancelled {
                            do {
                                try await execution.prune()
                            } catch {
                                logger.error("pruning executions failed")
                            }
                            try? await Task.sleep(for: .seconds(min(3600, max(60, execution.settings.retentionSeconds / 10))))
                        }
                    }
                }
            }
        }
        engine?.reapOrphans()
    }
}
