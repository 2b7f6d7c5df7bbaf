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
    /// The first program of every box, which applies the job's command line
    /// and per-process limits (built by `scripts/build-launcher.sh` beside
    /// the talos binary).
    public var launcherPath = SandboxConfiguration.defaultLauncherPath
    /// Boxes created ahead for each language asked for; 0 creates every
    /// box when its stage comes.
    public var poolSize = 0

    /// `talos-launch` beside the running executable.
    public static var defaultLauncherPath: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
        return (executable as NSString).deletingLastPathComponent + "/talos-launch"
    }

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
    /// How many jobs run at once.
    private let slots: AsyncSlots
    /// The host uid ranges: every box holds one from its creation until it
    /// is deleted, and the boxes of one job share theirs. One set for the
    /// process, so engines side by side never hand out the same range.
    static let processRanges = AsyncSlots(count: BoxBundle.maximumSlots)
    var ranges: AsyncSlots { Self.processRanges }
    let pool: BoxPool
    let reaper: BoxReaper
    /// What each stage mounts from the host's library directories.
    let libraries: RuntimeLibraries
    /// The disks each box's I/O is throttled on, and what is not throttled.
    public let ioThrottle: IOThrottle
    /// Answers and counts the system calls the profile refuses on purpose.
    let seccompAgent: SeccompAgent
    private let counter = Atomic<Int>(0)
    private let poolHits = Atomic<Int>(0)
    private let poolMisses = Atomic<Int>(0)

    /// Jobs whose first box came from the pool, and jobs that had to wait
    /// for one to be made.
    public var poolCounts: (hits: Int, misses: Int) {
        (poolHits.load(ordering: .relaxed), poolMisses.load(ordering: .relaxed))
    }

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
        self.pool = BoxPool(size: configuration.poolSize)
        self.reaper = BoxReaper(crun: [configuration.crunPath, "--root", configuration.stateDirectory], ranges: Self.processRanges)
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
        try Self.checkLauncher(configuration.launcherPath)
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
        LiveEngines.add(self)
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

    /// Deletes the pooled boxes, waits for finished ones to be deleted,
    /// reaps whatever is left and removes the engine's own cgroups, for an
    /// engine that will not run again.
    public func close() {
        pool.close().forEach { $0.closeDescriptors() }
        reaper.waitUntilIdle()
        reapOrphans()
        seccompAgent.close()
        LiveEngines.remove(self)
        for directory in cgroups.directories(for: cgroups.enginePath(engine: configuration.engineID)) {
            rmdir(directory)
        }
    }

    /// Returns once no box is being created for the pool or deleted.
    public func settled() async {
        await pool.idle()
        await reaper.idle()
    }

    /// The launcher is mounted into every box and runs before the job: it
    /// must be a regular file only its owner, this user or root, can change.
    static func checkLauncher(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o111 != 0 else {
            throw ForgeError.sandboxUnavailable("\(path) is missing: build it with scripts/build-launcher.sh (make build does)")
        }
        guard info.st_uid == 0 || info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
            throw ForgeError.sandboxUnavailable("\(path) may be changed by another user: it must belong to root and be writable by its owner only")
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
        guard request.files.count <= 512 else { throw ForgeError.invalidFiles("at most 512 files") }
        guard request.arguments.count <= 64, request.arguments.allSatisfy({ $0.utf8.count <= 4096 && !$0.contains("\0") }) else {
            throw ForgeError.invalidFiles("at most 64 arguments of at most 4096 bytes each")
        }
        var compileLimits: SandboxLimits?
        if let compile = runtime.compile {
            var limits = try configuration.policy.resolve((compile.limits ?? LimitRequest()).overridden(by: request.compileLimits))
            limits.outputBytes = max(limits.outputBytes, 64 * 1024)
            compileLimits = limits
        }
        let slot = await slots.acquire()
        defer { slots.release(slot) }
        let firstLimits = compileLimits ?? runLimits
        // The first box from the pool when one is ready and the job keeps
        // the stage's default work space (a pooled box's tmpfs size is fixed).
        var pooled: CreatedBox?
        if firstLimits.tmpfsMiB == (try? poolLimits(runtime).tmpfsMiB) {
            pooled = pool.take(runtime.language) { [self] language in makePooledBox(language: language) }
        }
        // Every box of the job shares one host uid range (a run box reads
        // what the compile box wrote), which no box of another job holds.
        let range: Int
        if let pooled {
            range = pooled.range
            poolHits.add(1, ordering: .relaxed)
        } else {
            range = await ranges.acquire()
            if pool.size > 0 { poolMisses.add(1, ordering: .relaxed) }
        }
        var finished: [BoxReaper.Work] = []
        var compileBundle: String?
        defer {
            if let compileBundle { finished.append(.bundle(compileBundle)) }
            reaper.submit(finished + [.range(range)])
        }
        let id = newBoxID()
        var result = StagedRun(language: runtime.language, version: runtime.version, compile: nil, runs: [])
        var outputDirectory: String?
        if let compile = runtime.compile, let compileLimits {
            guard control?.isCancelled != true, let limits = Self.withinBudget(compileLimits, control) else {
                if let pooled { discard(pooled, into: &finished) }
                return result
            }
            let stage = await runStage(
                StageRequest(
                    id: id + "-c", name: "compile", runtime: runtime, spec: compile, files: request.files, stdin: [],
                    arguments: [], limits: limits, outputMount: .writable, isCompile: true, control: control,
                    reference: request.reference, range: range
                ),
                pooled: pooled
            )
            Self.account(stage.result, cut: limits != compileLimits, control)
            // The container goes now; the bundle, whose output the runs
            // mount, when the job ends.
            if let id = stage.containerID { reaper.submit([.container(id)]) }
            compileBundle = stage.bundle
            result.compile = stage.result
            guard stage.result.verdict == .ok else { return result }
            outputDirectory = stage.outputDirectory
            pooled = nil
        }
        for (index, input) in inputs.enumerated() {
            // Past the job's budget no further stage starts.
            guard control?.isCancelled != true, let limits = Self.withinBudget(runLimits, control) else { break }
            let stage = await runStage(
                StageRequest(
                    id: id + "-r\(index)", name: input.stage, runtime: runtime, spec: runtime.run, files: request.files,
                    stdin: input.stdin, arguments: request.arguments, limits: limits,
                    outputMount: outputDirectory.map { .readOnly($0) } ?? .none, isCompile: false, control: control,
                    reference: request.reference, range: range
                ),
                pooled: index == 0 ? pooled : nil
            )
            if index == 0 { pooled = nil }
            Self.account(stage.result, cut: limits != runLimits, control)
            // Deleted in the background while the next stage runs.
            reaper.submit((stage.containerID.map { [.container($0)] } ?? []) + (stage.bundle.map { [.bundle($0)] } ?? []))
            result.runs.append(stage.result)
        }
        if let pooled { discard(pooled, into: &finished) }
        return result
    }

    /// A box that will not run is deleted like one that did.
    private func discard(_ box: CreatedBox, into finished: inout [BoxReaper.Work]) {
        box.closeDescriptors()
        finished += [.container(box.id), .bundle(box.bundle.directory)]
    }

    private func newBoxID() -> String {
        let token = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(configuration.engineID)-\(ProcessInfo.processInfo.processIdentifier)-\(token)-\(Hex.encode((0..<4).map { _ in UInt8.random(in: 0...255) }))"
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

        var isWritable: Bool {
            if case .writable = self { return true }
            return false
        }
    }

    struct StageRequest {
        var id: String
        var name: String
        var runtime: Runtime
        var spec: StageSpec
        var files: [SourceFile]
        var stdin: [UInt8]
        var arguments: [String]
        var limits: SandboxLimits
        var outputMount: OutputMount
        var isCompile: Bool
        var control: RunControl?
        var reference: String?
        var range: Int
    }

    struct StageOutcome {
        var result: StageResult
        /// For the reaper: the container and the bundle directory, once the
        /// stage no longer needs them.
        var containerID: String?
        var bundle: String?
        var outputDirectory: String?
    }

    /// The limits a pooled box of `runtime` is created with: its first
    /// stage's defaults for the cgroup and the work space, and the
    /// operator's maxima for what the launcher lowers per job.
    func poolLimits(_ runtime: Runtime) throws -> SandboxLimits {
        var limits: SandboxLimits
        if let compile = runtime.compile {
            limits = try configuration.policy.resolve(compile.limits ?? LimitRequest())
            limits.outputBytes = max(limits.outputBytes, 64 * 1024)
        } else {
            limits = configuration.policy.defaults
        }
        limits.openFiles = configuration.policy.maxima.openFiles
        limits.cpuMilliseconds = max(limits.cpuMilliseconds, configuration.policy.maxima.cpuMilliseconds)
        return limits
    }

    /// One box for the pool: `language`'s first stage, in a free uid range.
    private func makePooledBox(language: String) -> CreatedBox? {
        guard let runtime = try? catalog.runtime(for: language), let limits = try? poolLimits(runtime), let range = ranges.tryAcquire() else {
            return nil
        }
        let isCompile = runtime.compile != nil
        let request = StageRequest(
            id: newBoxID() + (isCompile ? "-c" : "-r0"), name: isCompile ? "compile" : "run", runtime: runtime,
            spec: runtime.compile ?? runtime.run, files: [], stdin: [], arguments: [], limits: limits,
            outputMount: isCompile ? .writable : .none, isCompile: isCompile, control: nil, reference: nil, range: range
        )
        switch createBox(request) {
        case .success(let box): return box
        case .failure(let failure):
            logger.warning("sandbox pool: a box could not be created", metadata: ["reason": "\(failure.reason)"])
            ranges.release(range)
            return nil
        }
    }

    /// Writes a bundle for `request` and has crun create the box. On failure
    /// nothing is left but what the reason names.
    private func createBox(_ request: StageRequest) -> Result<CreatedBox, SetupFailure> {
        var bundle: BoxBundle?
        do {
            let created = try BoxBundle.create(at: boxesDirectory + "/" + request.id)
            bundle = created
            let hostIDBase = BoxBundle.hostIDBase(slot: request.range)
            var output: String?
            if case .writable = request.outputMount {
                output = try created.makeOutputDirectory(sizeMiB: request.limits.tmpfsMiB, hostIDBase: hostIDBase)
            }
            if case .readOnly(let path) = request.outputMount { output = path }
            let cgroupPath = cgroups.boxPath(engine: configuration.engineID, box: request.id)
            let config = try boxConfig(
                spec: request.spec, limits: request.limits, bundle: created, outputMount: request.outputMount,
                outputDirectory: output, boxID: request.id, cgroupPath: cgroupPath, hostIDBase: hostIDBase,
                libraries: libraryMounts(language: request.runtime.language, isCompile: request.isCompile, outputMount: request.outputMount)
            )
            try created.writeConfig(config.json)
            try created.makeMountPoints(config.mountPoints)
            let result = CreatedBox.create(
                crun: [configuration.crunPath, "--root", configuration.stateDirectory], id: request.id, bundle: created,
                cgroupPath: cgroupPath, range: request.range, limits: request.limits,
                outputDirectory: request.outputMount.isWritable ? output : nil
            )
            if case .failure = result {
                _ = try? HostProcess.run([configuration.crunPath, "--root", configuration.stateDirectory, "delete", "--force", request.id])
                created.remove()
            }
            return result
        } catch {
            bundle?.remove()
            return .failure(SetupFailure(reason: (error as? ForgeError)?.reason ?? "\(error)"))
        }
    }

    /// Runs one stage in `pooled` when given, else in a box created now.
    private func runStage(_ request: StageRequest, pooled: CreatedBox?) async -> StageOutcome {
        let crun = [configuration.crunPath, "--root", configuration.stateDirectory]
        var box: CreatedBox
        if let pooled {
            box = pooled
        } else {
            switch createBox(request) {
            case .success(let created): box = created
            case .failure(let failure): return await setupFailed(request, reason: failure.reason)
            }
        }
        var finished = StageOutcome(
            result: StageResult.internalError(stage: request.name), containerID: box.id, bundle: box.bundle.directory,
            outputDirectory: box.outputDirectory
        )
        do {
            try box.bundle.writeSources(request.files)
            try box.bundle.writeJob(jobArguments(request), limits: request.limits)
            try updateLimits(of: box, to: request.limits, crun: crun)
        } catch {
            box.closeDescriptors()
            var failed = await setupFailed(request, reason: (error as? ForgeError)?.reason ?? "\(error)", box: box.id)
            failed.containerID = box.id
            failed.bundle = box.bundle.directory
            return failed
        }
        let runner = StageRunner(
            crun: crun, box: box, cgroups: cgroups, limits: request.limits, stdin: request.stdin,
            heapExhaustionMarker: request.runtime.heapExhaustionMarker, stage: request.name, control: request.control
        )
        let outcome = await runner.run()
        var result = outcome.result(stage: request.name, isCompile: request.isCompile)
        result.refusedSyscalls = seccompAgent.take(box: box.id)
        if let failure = outcome.setupFailure {
            result.verdict = .internalError
            result.setupFailure = failure
            logger.error("sandbox setup failed", metadata: ["box": "\(box.id)", "reason": "\(failure)"])
        }
        do {
            try await recordEvents(
                id: box.id, reference: request.reference, stage: request.name, language: request.runtime.language, outcome: outcome, result: result
            )
        } catch {
            // Fail closed: a stage whose events cannot be recorded has no result.
            logger.error("sandbox audit failed", metadata: ["box": "\(box.id)"])
            finished.outputDirectory = nil
            return finished
        }
        finished.result = result
        return finished
    }

    /// A stage whose box could not be set up: logged, its end and the
    /// reason audited, an `internal_error` carrying the reason.
    private func setupFailed(_ request: StageRequest, reason: String, box: String? = nil) async -> StageOutcome {
        let id = box ?? request.id
        logger.error("sandbox setup failed", metadata: ["box": "\(id)", "reason": "\(reason)"])
        let details = ["stage": request.name, "language": request.runtime.language, "execution": request.reference ?? ""]
        try? await audit?.record(
            AuditEvent(
                actor: "system", action: "sandbox.stage", target: id, outcome: .error,
                details: details.merging(["verdict": Verdict.internalError.name, "cpu_ms": "0", "wall_ms": "0", "peak_memory_bytes": "0"]) { $1 }
            )
        )
        try? await audit?.record(
            AuditEvent(actor: "system", action: "sandbox.setup_failed", target: id, outcome: .error, details: details.merging(["reason": reason]) { $1 })
        )
        var result = StageResult.internalError(stage: request.name)
        result.setupFailure = reason
        return StageOutcome(result: result, containerID: nil, bundle: nil, outputDirectory: nil)
    }

    /// The command line of a stage, with `{main}`, `{sources}` and
    /// `{heap_mib}` expanded and the caller's arguments after it.
    func jobArguments(_ request: StageRequest) -> [String] {
        let files = request.files
        guard let first = files.first else { return [] }
        let entry = "/src/" + first.name
        let sources = files.filter { $0.name.hasSuffix("." + request.runtime.fileExtension) }.map { "/src/" + $0.name }
        let heap = max(16, request.limits.memoryMiB * 3 / 4)
        var argv: [String] = []
        for token in request.spec.argv {
            switch token {
            case "{main}": argv.append(entry)
            case "{sources}": argv += sources.isEmpty ? [entry] : sources
            default: argv.append(token.replacingOccurrences(of: "{heap_mib}", with: String(heap)))
            }
        }
        return argv + request.arguments
    }

    /// A box made with other cgroup limits gets the stage's, before it starts.
    private func updateLimits(of box: CreatedBox, to limits: SandboxLimits, crun: [String]) throws {
        let current = box.limits
        guard current.memoryMiB != limits.memoryMiB || current.pids != limits.pids || current.cpuPercent != limits.cpuPercent
            || current.ioBytesPerSecond != limits.ioBytesPerSecond
        else { return }
        let path = box.bundle.directory + "/resources.json"
        var resources = cgroupResources(limits)
        // The device rules are the creation's and stay as they are.
        resources["devices"] = nil
        let data = try JSONSerialization.data(withJSONObject: resources, options: [.sortedKeys])
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ForgeError.sandboxUnavailable("cannot write the box's limits")
        }
        let update = try HostProcess.run(crun + ["update", "--resources", path, box.id])
        guard update.status == 0 else {
            throw ForgeError.sandboxUnavailable("crun update failed: \(update.output.split(separator: "\n").last.map(String.init) ?? "")")
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

    /// A free slot now, or nil without waiting.
    func tryAcquire() -> Int? {
        state.withLock { $0.free.popLast() }
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

/// Engines not closed yet. At a normal exit of the process each is closed,
/// so no box it created ahead outlives it; after a crash, the next engine
/// with the same state directory reaps them.
enum LiveEngines {
    private static let engines = Mutex<[ObjectIdentifier: SandboxEngine]>([:])
    private static let registered = Atomic<Bool>(false)

    static func add(_ engine: SandboxEngine) {
        engines.withLock { $0[ObjectIdentifier(engine)] = engine }
        if registered.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            atexit { LiveEngines.closeAll() }
        }
    }

    static func remove(_ engine: SandboxEngine) {
        _ = engines.withLock { $0.removeValue(forKey: ObjectIdentifier(engine)) }
    }

    /// The boxes waiting in the pools of every live engine.
    static var waitingBoxes: [CreatedBox] {
        engines.withLock { Array($0.values) }.flatMap { $0.pool.waiting }
    }

    static func closeAll() {
        let open = engines.withLock { engines in
            defer { engines = [:] }
            return Array(engines.values)
        }
        open.forEach { $0.close() }
    }
}
