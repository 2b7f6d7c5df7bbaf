import CSystemShims
import Foundation
public import Ledger
public import Logging
import Synchronization
import TalosCore

/// Where and how the engine runs boxes.
public struct SandboxConfiguration: Sendable {
    public var crunPath = "/usr/bin/crun"
    /// A static init for pid 1, so signals and zombies behave as outside.
    public var initPath = "/usr/bin/tini-static"
    /// crun's state (`--root`); orphans found here are reaped at start.
    public var stateDirectory: String
    /// Where bundles are written; must be traversable by the mapped root.
    public var workDirectory: String
    /// Names this engine's cgroup subtree; stable across restarts so a
    /// restarted engine finds what its predecessor left behind.
    public var engineID: String
    public var maximumConcurrentRuns: Int
    public var policy: LimitPolicy

    public init(
        stateDirectory: String, workDirectory: String, engineID: String, maximumConcurrentRuns: Int = 4,
        policy: LimitPolicy = LimitPolicy()
    ) {
        self.stateDirectory = stateDirectory
        self.workDirectory = workDirectory
        self.engineID = engineID
        self.maximumConcurrentRuns = maximumConcurrentRuns
        self.policy = policy
    }
}

/// What to run.
public struct ExecutionRequest: Sendable {
    public var language: String
    /// The first file is the entry point.
    public var files: [SourceFile]
    public var stdin: [UInt8]
    public var arguments: [String]
    public var limits: LimitRequest
    /// Overrides of the compile stage's limits (the catalog's compile
    /// defaults otherwise); also bounded by the operator's maxima.
    public var compileLimits: LimitRequest
    /// The execution this belongs to, carried into the audit records.
    public var reference: String?

    public init(
        language: String, files: [SourceFile], stdin: [UInt8] = [], arguments: [String] = [],
        limits: LimitRequest = LimitRequest(), compileLimits: LimitRequest = LimitRequest()
    ) {
        self.language = language
        self.files = files
        self.stdin = stdin
        self.arguments = arguments
        self.limits = limits
        self.compileLimits = compileLimits
    }
}

/// One run of a compiled program: its name in results and events, and its stdin.
public struct RunInput: Sendable {
    public var stage: String
    public var stdin: [UInt8]

    public init(stage: String, stdin: [UInt8]) {
        self.stage = stage
        self.stdin = stdin
    }
}

/// A compile (when the language has one) and the runs that followed it.
public struct StagedRun: Sendable {
    public var language: String
    public var version: String
    public var compile: StageResult?
    /// One per input that ran, in order.
    public var runs: [StageResult]
}

/// Runs untrusted programs in crun boxes, one fresh box per stage, and
/// leaves nothing behind: no container, cgroup, mount, process or file.
///
/// There is no fallback: if a box cannot be set up the stage is an
/// `internal_error`, and the program never runs outside a box.
public final class SandboxEngine: Sendable {
    public let configuration: SandboxConfiguration
    public let catalog: RuntimeCatalog
    let cgroups: CgroupLocator
    let seccomp: SendableJSON
    let audit: AuditLog?
    let logger: Logger
    private let slots: AsyncSlots
    /// What each stage mounts from the host's library directories.
    let libraries: RuntimeLibraries
    /// The disks each box's I/O is throttled on, and what is not throttled.
    public let ioThrottle: IOThrottle
    /// Answers and counts the system calls the profile refuses on purpose.
    let seccompAgent: SeccompAgent
    private let counter = Atomic<Int>(0)

    /// Prepares the directories and reaps whatever a previous engine with the
    /// same state directory left behind.
    public init(configuration: SandboxConfiguration, catalog: RuntimeCatalog, audit: AuditLog?, logger: Logger) throws {
        self.configuration = configuration
        self.catalog = catalog
        self.audit = audit
        self.logger = logger
        // The id names cgroups and files: a plain name, never a path.
        guard configuration.engineID.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", options: .regularExpression) != nil else {
            throw ForgeError.sandboxUnavailable("the engine id must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        self.cgroups = try CgroupLocator.detect().delegated(engine: configuration.engineID)
        if let problem = cgroups.cpuAccountingProblem() { throw ForgeError.sandboxUnavailable(problem) }
        self.slots = AsyncSlots(count: min(BoxBundle.maximumSlots, max(1, configuration.maximumConcurrentRuns)))
        self.libraries = RuntimeLibraries.cached(catalog: catalog)
        guard let url = Bundle.module.url(forResource: "seccomp", withExtension: "json"),
            let data = try? Data(contentsOf: url),
            var profile = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw ForgeError.sandboxUnavailable("the seccomp profile is missing from the installation") }
        profile["comment"] = nil
        self.seccomp = SendableJSON(profile)
        guard FileManager.default.isExecutableFile(atPath: configuration.crunPath) else {
            throw ForgeError.sandboxUnavailable("\(configuration.crunPath) is not installed")
        }
        guard FileManager.default.isExecutableFile(atPath: configuration.initPath) else {
            throw ForgeError.sandboxUnavailable("\(configuration.initPath) is not installed (Debian package tini)")
        }
        guard talos_set_child_subreaper() == 0 else {
            throw ForgeError.sandboxUnavailable("cannot become the reaper of container processes")
        }
        signal(SIGPIPE, SIG_IGN)
        try Self.ensureOwnDirectory(configuration.workDirectory, mode: 0o711)
        try Self.ensureOwnDirectory(configuration.stateDirectory, mode: 0o700)
        self.seccompAgent = try SeccompAgent(socketPath: configuration.stateDirectory + "/seccomp.sock")
        self.ioThrottle = IOThrottle.plan(paths: Self.throttledPaths(configuration: configuration, catalog: catalog))
            .tried(on: cgroups.throttleDirectory(engine: configuration.engineID), mode: cgroups.mode)
        if !ioThrottle.exceptions.isEmpty {
            logger.warning("sandbox I/O throttle incomplete", metadata: ["io_throttle": "\(ioThrottle.summary)"])
        }
        try writeEtcFiles()
        reapOrphans()
    }

    /// What boxes touch on disk: the work directory and the toolchains.
    public static func throttledPaths(configuration: SandboxConfiguration, catalog: RuntimeCatalog) -> [String] {
        var paths = [configuration.workDirectory]
        let stages = catalog.runtimes.flatMap { [$0.run] + ($0.compile.map { [$0] } ?? []) }
        for source in catalog.libraries.map(\.source) + stages.flatMap({ $0.mounts.map(\.source) })
        where !paths.contains(source) && FileManager.default.fileExists(atPath: source) {
            paths.append(source)
        }
        return paths
    }

    /// Why boxes' CPU time cannot be accounted on this host, or nil; the
    /// engine refuses to start while this is not nil.
    public static func cpuAccountingProblem() -> String? {
        CgroupLocator.detect().cpuAccountingProblem()
    }

    /// Creates `path` (and missing parents) or accepts it only if it is a
    /// real directory owned by this user that nobody else can write to, under
    /// a parent nobody else can swap it out of. Everything below it is then
    /// ours: no other local user can plant links for root to follow.
    static func ensureOwnDirectory(_ path: String, mode: mode_t) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != "/", parent != path {
            var parentInfo = stat()
            if lstat(parent, &parentInfo) != 0 {
                try ensureOwnDirectory(parent, mode: 0o711)
            } else {
                let ownerOK = parentInfo.st_uid == 0 || parentInfo.st_uid == geteuid()
                let othersCanWrite = parentInfo.st_mode & 0o022 != 0
                let sticky = parentInfo.st_mode & mode_t(S_ISVTX) != 0
                guard parentInfo.st_mode & S_IFMT == S_IFDIR, ownerOK, !othersCanWrite || sticky else {
                    throw ForgeError.sandboxUnavailable("\(parent) is not a directory only this user controls")
                }
            }
        }
        if mkdir(path, mode) != 0, errno != EEXIST {
            throw ForgeError.sandboxUnavailable("cannot create \(path)")
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
            throw ForgeError.sandboxUnavailable("\(path) is not a private directory of this user (a link, or owned or writable by someone else)")
        }
        chmod(path, mode)
    }

    var etcDirectory: String { configuration.workDirectory + "/etc" }
    var boxesDirectory: String { configuration.workDirectory + "/boxes" }

    private func writeEtcFiles() throws {
        let files = [
            "hosts": "127.0.0.1 localhost\n::1 localhost\n",
            "passwd": "root:x:0:0::/root:/usr/sbin/nologin\nnobody:x:65534:65534::/box:/usr/sbin/nologin\n",
            "group": "root:x:0:\nnogroup:x:65534:\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
        ]
        try Self.ensureOwnDirectory(etcDirectory, mode: 0o755)
        for (name, content) in files {
            let path = etcDirectory + "/" + name
            try? FileManager.default.removeItem(atPath: path)
            guard FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o644]) else {
                throw ForgeError.sandboxUnavailable("cannot write \(path)")
            }
        }
        try Self.ensureOwnDirectory(boxesDirectory, mode: 0o711)
    }

    /// Kills and deletes every container in this engine's state directory,
    /// removes stale bundles and empty cgroups. Returns how many were found.
    @discardableResult
    public func reapOrphans() -> Int {
        let crun = [configuration.crunPath, "--root", configuration.stateDirectory]
        let listed = (try? HostProcess.run(crun + ["list", "-q"]))?.output ?? ""
        let ids = listed.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        for id in ids {
            _ = try? HostProcess.run(crun + ["kill", id, "KILL"])
            _ = try? HostProcess.run(crun + ["delete", "--force", id])
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: boxesDirectory)) ?? [] {
            BoxBundle.remove(directory: boxesDirectory + "/" + name)
        }
        cgroups.removeLeftovers(engine: configuration.engineID)
        if !ids.isEmpty {
            logger.warning("reaped orphaned sandboxes", metadata: ["count": "\(ids.count)"])
        }
        return ids.count
    }

    /// Reaps whatever is left and removes the engine's own cgroups, for an
    /// engine that will not run again (a one-off `talos run`).
    public func close() {
        reapOrphans()
        seccompAgent.close()
        for directory in cgroups.directories(for: cgroups.enginePath(engine: configuration.engineID)) {
            rmdir(directory)
        }
    }

    /// Compiles (when the language needs it) and runs `request` once, on its stdin.
    ///
    /// Throws for requests that are wrong (unknown language, bad file names,
    /// limits above the maxima); whatever happens inside a box is a verdict.
    public func execute(_ request: ExecutionRequest, control: RunControl? = nil) async throws -> ExecutionResult {
        let staged = try await run(request, inputs: [RunInput(stage: "run", stdin: request.stdin)], control: control)
        var result = ExecutionResult(
            language: staged.language, version: staged.version, verdict: .internalError, compile: staged.compile, run: staged.runs.first
        )
        if let compile = staged.compile, compile.verdict != .ok {
            result.verdict = compile.verdict
        } else if let run = staged.runs.first {
            result.verdict = run.verdict
        } else if control?.isCancelled == true {
            result.verdict = .cancelled
        }
        return result
    }

    /// Compiles once, then runs the program once per input, each run in a
    /// fresh box with the same limits. Stops early when compilation fails or
    /// `control` is cancelled; a run that fails does not stop the next.
    public func run(_ request: ExecutionRequest, inputs: [RunInput], control: RunControl?) async throws -> StagedRun {
        let runtime = try catalog.runtime(for: request.language)
        let runLimits = try configuration.policy.resolve(request.limits)
        guard !request.files.isEmpty else { throw ForgeError.invalidFiles("at least one source file is needed") }
        guard Set(request.files.map(\.name)).count == request.files.count else {
            throw ForgeError.invalidFiles("file names must be unique")
        }
        guard request.arguments.count <= 64, request.arguments.allSatisfy({ $0.utf8.count <= 4096 && !$0.contains("\0") }) else {
            throw ForgeError.invalidFiles("at most 64 arguments of at most 4096 bytes each")
        }
        var compileLimits: SandboxLimits?
        if let compile = runtime.compile {
            var limits = try configuration.policy.resolve((compile.limits ?? LimitRequest()).overridden(by: request.compileLimits))
            limits.outputBytes = max(limits.outputBytes, 64 * 1024)
            compileLimits = limits
        }
        // Each concurrent job runs under its own host uid range, so boxes
        // that run side by side are different users to the kernel.
        let slot = await slots.acquire()
        defer { slots.release(slot) }
        let hostIDBase = BoxBundle.hostIDBase(slot: slot)
        let token = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let id = "\(configuration.engineID)-\(ProcessInfo.processInfo.processIdentifier)-\(token)-\(Hex.encode((0..<4).map { _ in UInt8.random(in: 0...255) }))"
        var result = StagedRun(language: runtime.language, version: runtime.version, compile: nil, runs: [])
        var outputDirectory: String?
        var compileBundle: BoxBundle?
        defer { compileBundle?.remove() }
        if let compile = runtime.compile, let compileLimits {
            guard control?.isCancelled != true, let limits = Self.withinBudget(compileLimits, control) else {
                return result
            }
            let stage = await runStage(
                id: id + "-c", name: "compile", runtime: runtime, spec: compile, files: request.files, stdin: [],
                arguments: [], limits: limits, outputMount: .writable, isCompile: true, control: control,
                reference: request.reference, hostIDBase: hostIDBase
            )
            Self.account(stage.result, cut: limits != compileLimits, control)
            compileBundle = stage.bundle
            result.compile = stage.result
            guard stage.result.verdict == .ok else { return result }
            outputDirectory = stage.outputDirectory
        }
        for (index, input) in inputs.enumerated() {
            // Past the job's budget no further stage starts.
            guard control?.isCancelled != true, let limits = Self.withinBudget(runLimits, control) else { break }
            let stage = await runStage(
                id: id + "-r\(index)", name: input.stage, runtime: runtime, spec: runtime.run, files: request.files,
                stdin: input.stdin, arguments: request.arguments, limits: limits,
                outputMount: outputDirectory.map { .readOnly($0) } ?? .none, isCompile: false, control: control,
                reference: request.reference, hostIDBase: hostIDBase
            )
            Self.account(stage.result, cut: limits != runLimits, control)
            stage.bundle?.remove()
            result.runs.append(stage.result)
        }
        return result
    }

    /// Charges a finished stage to the job's budget; a stage that ran out of
    /// time under a budget-cut limit means the budget, not the stage, ran out.
    static func account(_ result: StageResult, cut: Bool, _ control: RunControl?) {
        control?.finishStage(cpuMilliseconds: result.cpuMilliseconds, wallMilliseconds: result.wallMilliseconds)
        if cut, case .timeLimitExceeded = result.verdict { control?.noteBudgetStop() }
    }

    /// `limits` cut to what is left of the job's budget; nil when none is left.
    static func withinBudget(_ limits: SandboxLimits, _ control: RunControl?) -> SandboxLimits? {
        guard let control else { return limits }
        return control.limitsWithinBudget(limits)
    }

    /// A stage's library mounts; a run after a compile also gets what the
    /// program it built names.
    func libraryMounts(language: String, isCompile: Bool, outputMount: OutputMount) -> [ToolchainMount] {
        if !isCompile, case .readOnly(let directory) = outputMount {
            return libraries.mounts(language: language, programIn: directory)
        }
        return libraries.mounts(language: language, compile: isCompile)
    }

    enum OutputMount {
        case none
        case writable
        case readOnly(String)
    }

    struct StageOutcome {
        var result: StageResult
        var bundle: BoxBundle?
        var outputDirectory: String?
    }

    private func runStage(
        id: String, name: String, runtime: Runtime, spec: StageSpec, files: [SourceFile], stdin: [UInt8],
        arguments: [String], limits: SandboxLimits, outputMount: OutputMount, isCompile: Bool, control: RunControl?,
        reference: String?, hostIDBase: Int
    ) async -> StageOutcome {
        var bundle: BoxBundle?
        do {
            let created = try BoxBundle.create(at: boxesDirectory + "/" + id)
            bundle = created
            try created.writeSources(files)
            var output: String?
            if case .writable = outputMount { output = try created.makeOutputDirectory(sizeMiB: limits.tmpfsMiB, hostIDBase: hostIDBase) }
            if case .readOnly(let path) = outputMount { output = path }
            let cgroupPath = cgroups.boxPath(engine: configuration.engineID, box: id)
            let config = try boxConfig(
                runtime: runtime, spec: spec, files: files, arguments: arguments, limits: limits, bundle: created,
                outputMount: outputMount, outputDirectory: output, boxID: id, cgroupPath: cgroupPath, hostIDBase: hostIDBase,
                libraries: libraryMounts(language: runtime.language, isCompile: isCompile, outputMount: outputMount)
            )
            try created.writeConfig(config.json)
            try created.makeMountPoints(config.mountPoints)
            let runner = StageRunner(
                crun: [configuration.crunPath, "--root", configuration.stateDirectory], id: id, bundle: created,
                cgroupPath: cgroupPath, cgroups: cgroups, limits: limits, stdin: stdin,
                heapExhaustionMarker: runtime.heapExhaustionMarker, stage: name, control: control
            )
            let outcome = await runner.run()
            var result = outcome.result(stage: name, isCompile: isCompile)
            result.refusedSyscalls = seccompAgent.take(box: id)
            if let failure = outcome.setupFailure {
                result.verdict = .internalError
                result.setupFailure = failure
                logger.error("sandbox setup failed", metadata: ["box": "\(id)", "reason": "\(failure)"])
            }
            do {
                try await recordEvents(id: id, reference: reference, stage: name, language: runtime.language, outcome: outcome, result: result)
            } catch {
                // Fail closed: a stage whose events cannot be recorded has no result.
                logger.error("sandbox audit failed", metadata: ["box": "\(id)"])
                return StageOutcome(result: StageResult.internalError(stage: name), bundle: bundle, outputDirectory: nil)
            }
            return StageOutcome(result: result, bundle: bundle, outputDirectory: output)
        } catch {
            let reason = (error as? ForgeError)?.reason ?? "\(error)"
            logger.error("sandbox setup failed", metadata: ["box": "\(id)", "reason": "\(reason)"])
            try? await audit?.record(
                AuditEvent(
                    actor: "system", action: "sandbox.setup_failed", target: id, outcome: .error,
                    details: ["stage": name, "reason": reason, "execution": reference ?? ""]
                )
            )
            bundle?.remove()
            var result = StageResult.internalError(stage: name)
            result.setupFailure = reason
            return StageOutcome(result: result, bundle: nil, outputDirectory: nil)
        }
    }

    /// Every stage's end, and each security-relevant event, go to the audit
    /// trail and the logs.
    private func recordEvents(id: String, reference: String?, stage: String, language: String, outcome: StageRunner.Outcome, result: StageResult) async throws {
        try await audit?.record(
            AuditEvent(
                actor: "system", action: "sandbox.stage", target: id, outcome: result.verdict == .internalError ? .error : .success,
                details: [
                    "execution": reference ?? "", "stage": stage, "language": language, "verdict": result.verdict.name, "cpu_ms": String(result.cpuMilliseconds),
                    "wall_ms": String(result.wallMilliseconds), "peak_memory_bytes": String(result.peakMemoryBytes),
                ]
            )
        )
        var events: [(String, [String: String])] = []
        if outcome.stats.oomKills > 0 { events.append(("sandbox.oom_kill", [:])) }
        // The profile kills on foreign-ABI syscalls; that death is the kernel's report.
        if result.signal == SIGSYS { events.append(("sandbox.seccomp_violation", ["signal": "SIGSYS"])) }
        if !result.refusedSyscalls.isEmpty {
            let calls = result.refusedSyscalls.sorted { $0.key < $1.key }
            events.append((
                "sandbox.seccomp_refused",
                [
                    "syscalls": calls.map { "\($0.key)×\($0.value)" }.joined(separator: " "),
                    "count": String(calls.reduce(0) { $0 + $1.value }),
                ]
            ))
        }
        if outcome.stats.pidLimitHits > 0 { events.append(("sandbox.pid_limit", ["hits": String(outcome.stats.pidLimitHits)])) }
        if let limit = outcome.killedFor { events.append(("sandbox.timeout", ["limit": limit.rawValue])) }
        if outcome.outputExceeded { events.append(("sandbox.output_limit", [:])) }
        if let failure = outcome.setupFailure { events.append(("sandbox.setup_failed", ["reason": failure])) }
        for (action, details) in events {
            var details = details
            details["stage"] = stage
            details["language"] = language
            details["execution"] = reference ?? ""
            logger.warning("sandbox event", metadata: ["event": "\(action)", "box": "\(id)"])
            try await audit?.record(AuditEvent(actor: "system", action: action, target: id, outcome: .denied, details: details))
        }
    }
}

/// A JSON object crossing concurrency domains; never mutated after creation.
struct SendableJSON: @unchecked Sendable {
    let value: [String: Any]

    init(_ value: [String: Any]) {
        self.value = value
    }
}

/// Numbered slots for async callers, first come first served: a caller
/// holds one slot number until it releases it, so no two holders ever
/// share a number.
final class AsyncSlots: Sendable {
    private struct State {
        var free: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(free: Array((0..<count).reversed())))
    }

    func acquire() async -> Int {
        await withCheckedContinuation { continuation in
            let slot = state.withLock { state -> Int? in
                if let slot = state.free.popLast() { return slot }
                state.waiters.append(continuation)
                return nil
            }
            if let slot { continuation.resume(returning: slot) }
        }
    }

    func release(_ slot: Int) {
        let next = state.withLock { state -> CheckedContinuation<Int, Never>? in
            if state.waiters.isEmpty {
                state.free.append(slot)
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume(returning: slot)
    }
}

extension StageResult {
    static func internalError(stage: String) -> StageResult {
        StageResult(
            stage: stage, verdict: .internalError, timeLimit: nil, exitCode: nil, signal: nil, stdout: "", stderr: "",
            stdoutTruncated: false, stderrTruncated: false, cpuMilliseconds: 0, wallMilliseconds: 0, peakMemoryBytes: 0
        )
    }
}
