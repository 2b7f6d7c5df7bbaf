import Foundation
import Synchronization
import TalosCore

/// A box crun has created, its init waiting for `crun start`: pid 1 is
/// alive in its namespaces and cgroup, its mounts are in place, and only the
/// host ends of its stdio pipes remain. It runs at most one stage; whether
/// it ran or not, it is then deleted, never started again.
struct CreatedBox: Sendable {
    let id: String
    let bundle: BoxBundle
    let cgroupPath: String
    /// The host uid range its user namespace maps to (``BoxBundle/hostIDBase(slot:)``).
    let range: Int
    /// The cgroup limits it was created with; a stage with others updates them first.
    let limits: SandboxLimits
    let outputDirectory: String?
    let containerPID: pid_t
    let stdin: Int32
    let stdout: Int32
    let stderr: Int32

    /// `crun create` with fresh pipes as the box's stdio. Blocking.
    static func create(
        crun: [String], id: String, bundle: BoxBundle, cgroupPath: String, range: Int, limits: SandboxLimits, outputDirectory: String?
    ) -> Result<CreatedBox, SetupFailure> {
        var created: [(read: Int32, write: Int32)] = []
        for _ in 0..<3 {
            guard let pipe = try? HostProcess.pipe() else {
                for pipe in created {
                    close(pipe.read)
                    close(pipe.write)
                }
                return .failure(SetupFailure(reason: "cannot create pipes"))
            }
            created.append(pipe)
        }
        let pipes = (stdin: created[0], stdout: created[1], stderr: created[2])
        let pidFile = bundle.directory + "/pid"
        let status: Int32
        do {
            let pid = try HostProcess.spawn(
                crun + ["--log=" + bundle.directory + "/crun.log", "create", "--bundle", bundle.directory, "--pid-file", pidFile, id],
                stdin: pipes.stdin.read, stdout: pipes.stdout.write, stderr: pipes.stderr.write
            )
            status = try HostProcess.wait(pid)
        } catch {
            status = -1
        }
        close(pipes.stdin.read)
        close(pipes.stdout.write)
        close(pipes.stderr.write)
        guard status == 0,
            let pidText = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let containerPID = pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            close(pipes.stdin.write)
            close(pipes.stdout.read)
            close(pipes.stderr.read)
            let log = (try? String(contentsOfFile: bundle.directory + "/crun.log", encoding: .utf8)) ?? ""
            return .failure(SetupFailure(reason: log.split(separator: "\n").last.map(String.init) ?? "crun create failed"))
        }
        return .success(
            CreatedBox(
                id: id, bundle: bundle, cgroupPath: cgroupPath, range: range, limits: limits, outputDirectory: outputDirectory,
                containerPID: containerPID, stdin: pipes.stdin.write, stdout: pipes.stdout.read, stderr: pipes.stderr.read
            )
        )
    }

    /// For a box that will not run: the host ends of its pipes.
    func closeDescriptors() {
        close(stdin)
        close(stdout)
        close(stderr)
    }
}

struct SetupFailure: Error, Sendable {
    let reason: String
}

/// Drives one created box through its stage: stream its stdin, start it,
/// stream output under its cap, enforce the CPU and wall limits, wait for
/// pid 1, read the cgroup's accounting. Deleting the box is the caller's
/// business, after the result is handed back.
///
/// Runs on its own threads: every wait here blocks, and none of it may
/// block the cooperative pool.
final class StageRunner: Sendable {
    let crun: [String]
    let box: CreatedBox
    let cgroups: CgroupLocator
    let limits: SandboxLimits
    let stdin: [UInt8]
    /// What the runtime prints when its own heap limit (set below the
    /// cgroup's) stops it, which the cgroup never sees as an OOM kill.
    let heapExhaustionMarker: String?
    /// The stage's name in output events.
    let stage: String
    let control: RunControl?

    init(
        crun: [String], box: CreatedBox, cgroups: CgroupLocator, limits: SandboxLimits,
        stdin: [UInt8], heapExhaustionMarker: String?, stage: String, control: RunControl?
    ) {
        self.heapExhaustionMarker = heapExhaustionMarker
        self.stage = stage
        self.control = control
        self.crun = crun
        self.box = box
        self.cgroups = cgroups
        self.limits = limits
        self.stdin = stdin
    }

    struct Outcome: Sendable {
        var waitStatus: Int32?
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var stdoutTruncated = false
        var stderrTruncated = false
        var stats = CgroupStats()
        var wallNanoseconds: UInt64 = 0
        var killedFor: Verdict.TimeLimit?
        var outputExceeded = false
        /// Stopped by ``RunControl/cancel()``.
        var cancelled = false
        var setupFailure: String?
        var cpuLimitMilliseconds = 0
        var heapExhaustionMarker: String?

        /// The runtime's own report, trusted only with the abort it comes with.
        var heapExhausted: Bool {
            guard let heapExhaustionMarker, let waitStatus, HostProcess.exitCode(waitStatus) == 128 + SIGABRT else { return false }
            return String(decoding: stderr.suffix(4096), as: UTF8.self).contains(heapExhaustionMarker)
        }

        func result(stage: String, isCompile: Bool) -> StageResult {
            let cpuMilliseconds = Int(stats.cpuNanoseconds / 1_000_000)
            var exitCode: Int32?
            var signal: Int32?
            if let waitStatus {
                if let code = HostProcess.exitCode(waitStatus) {
                    // The init reports a child killed by signal N as 128 + N.
                    if code > 128, code < 160 { signal = code - 128 } else { exitCode = code }
                } else {
                    signal = HostProcess.terminatingSignal(waitStatus)
                }
            }
            var timeLimit: Verdict.TimeLimit?
            let verdict: Verdict
            if setupFailure != nil || waitStatus == nil {
                verdict = .internalError
            } else if cancelled {
                verdict = .cancelled
            } else if stats.oomKills > 0 || heapExhausted {
                verdict = .memoryLimitExceeded
            } else if outputExceeded {
                verdict = .outputLimitExceeded
            } else if killedFor == .cpu || (signal != nil && cpuMilliseconds >= cpuLimitMilliseconds)
                || (signal == SIGXCPU && cpuMilliseconds * 10 >= cpuLimitMilliseconds * 9)
            {
                // RLIMIT_CPU's SIGXCPU counts only with the CPU time to back
                // it: a program cannot exit 152 to fake a CPU limit.
                verdict = .timeLimitExceeded(.cpu)
                timeLimit = .cpu
            } else if killedFor == .wall {
                verdict = .timeLimitExceeded(.wall)
                timeLimit = .wall
            } else if exitCode == 0 {
                verdict = .ok
            } else {
                verdict = isCompile ? .compileError : .runtimeError
            }
            return StageResult(
                stage: stage, verdict: verdict, timeLimit: timeLimit, exitCode: exitCode, signal: signal,
                stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self),
                stdoutTruncated: stdoutTruncated, stderrTruncated: stderrTruncated, cpuMilliseconds: cpuMilliseconds,
                wallMilliseconds: Int(wallNanoseconds / 1_000_000), peakMemoryBytes: stats.peakMemoryBytes
            )
        }
    }

    func run() async -> Outcome {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: self.runBlocking()) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func kill() {
        _ = try? HostProcess.run(crun + ["kill", box.id, "KILL"])
    }

    private func runBlocking() -> Outcome {
        var outcome = Outcome()
        outcome.cpuLimitMilliseconds = limits.cpuMilliseconds
        outcome.heapExhaustionMarker = heapExhaustionMarker
        let pipes = (stdin: box.stdin, stdout: box.stdout, stderr: box.stderr)
        let containerPID = box.containerPID
        let cgroupPath = box.cgroupPath
        // Pipes larger than the output cap: a program that fills a small
        // pipe may stall and queue output in memory before the reader sees
        // the overflow, turning an output flood into an OOM.
        let pipeSize = Int32(min(max(limits.outputBytes + 64 * 1024, 1 << 20), 16 << 20))
        _ = fcntl(pipes.stdout, 1031, pipeSize)
        _ = fcntl(pipes.stderr, 1031, pipeSize)
        // What creating the box cost is not the stage's: CPU counts from here.
        let setupNanoseconds = cgroups.cpuNanoseconds(boxPath: cgroupPath) ?? 0

        let state = Mutex(StreamState())
        let outputLimit = limits.outputBytes
        let readers = DispatchGroup()
        let control = self.control
        let stage = self.stage
        for (index, descriptor) in [pipes.stdout, pipes.stderr].enumerated() {
            readers.enter()
            Thread {
                // Keep up to the cap, flag the overflow at once (the watchdog
                // then kills the box), and drain the rest so nothing blocks.
                var kept: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 16 * 1024)
                var overflowed = false
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                    if count < 0, errno == EINTR { continue }
                    if count <= 0 { break }
                    let room = max(0, outputLimit - kept.count)
                    kept += buffer[0..<min(count, room)]
                    control?.emit(stage: stage, stream: index == 0 ? "stdout" : "stderr", bytes: buffer[0..<min(count, room)])
                    if count > room, !overflowed {
                        overflowed = true
                        state.withLock { $0.outputExceeded = true }
                    }
                }
                // The reader owns its descriptor: closing it anywhere else
                // could pull a reused descriptor number out from under it.
                close(descriptor)
                state.withLock { state in
                    if index == 0 { (state.stdout, state.stdoutTruncated) = (kept, overflowed) } else { (state.stderr, state.stderrTruncated) = (kept, overflowed) }
                }
                readers.leave()
            }.start()
        }
        let input = stdin
        Thread {
            input.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(pipes.stdin, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        break
                    }
                    offset += written
                }
            }
            close(pipes.stdin)
        }.start()

        let started = DispatchTime.now().uptimeNanoseconds
        guard (try? HostProcess.run(crun + ["start", box.id]))?.status == 0 else {
            kill()
            _ = try? HostProcess.wait(containerPID)
            _ = readers.wait(timeout: .now() + .seconds(5))
            outcome.setupFailure = "crun start failed"
            return outcome
        }
        let exited = DispatchSemaphore(value: 0)
        let status = Mutex<Int32?>(nil)
        Thread {
            let result = try? HostProcess.wait(containerPID)
            status.withLock { $0 = result }
            exited.signal()
        }.start()

        let wallLimit = UInt64(limits.wallMilliseconds) * 1_000_000
        let cpuLimit = UInt64(limits.cpuMilliseconds) * 1_000_000
        var killedFor: Verdict.TimeLimit?
        var killedForOutput = false
        var killedForCancel = false
        var accountingLost = false
        while exited.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            guard killedFor == nil, !killedForOutput, !killedForCancel, !accountingLost else { continue }
            if control?.isCancelled == true {
                killedForCancel = true
                kill()
                continue
            }
            // CPU first: at the default half core, a CPU-bound program
            // reaches both limits together and the CPU is the cause.
            // Fail closed: a box whose CPU time cannot be read cannot be
            // held to its CPU limit, so it is stopped.
            guard let total = cgroups.cpuNanoseconds(boxPath: cgroupPath) else {
                accountingLost = true
                kill()
                continue
            }
            let used = total &- min(total, setupNanoseconds)
            control?.noteCurrentCPU(nanoseconds: used)
            if used >= cpuLimit {
                killedFor = .cpu
                kill()
            } else if DispatchTime.now().uptimeNanoseconds - started > wallLimit {
                killedFor = .wall
                kill()
            } else if state.withLock({ $0.outputExceeded }) {
                killedForOutput = true
                kill()
            }
        }
        outcome.wallNanoseconds = DispatchTime.now().uptimeNanoseconds - started
        outcome.stats = cgroups.read(boxPath: cgroupPath)
        outcome.stats.cpuNanoseconds -= min(outcome.stats.cpuNanoseconds, setupNanoseconds)
        if accountingLost || cgroups.cpuNanoseconds(boxPath: cgroupPath) == nil {
            outcome.setupFailure = "the box's CPU accounting could not be read"
        }
        // Every process of the box died with its pid 1, so the pipes reach end of file.
        if readers.wait(timeout: .now() + .seconds(5)) == .timedOut {
            outcome.setupFailure = "output streams did not close"
        }
        outcome.waitStatus = status.withLock { $0 }
        outcome.killedFor = killedFor
        outcome.cancelled = killedForCancel
        state.withLock { stream in
            outcome.stdout = stream.stdout
            outcome.stderr = stream.stderr
            outcome.stdoutTruncated = stream.stdoutTruncated
            outcome.stderrTruncated = stream.stderrTruncated
            outcome.outputExceeded = stream.outputExceeded
        }
        return outcome
    }

    private struct StreamState {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var stdoutTruncated = false
        var stderrTruncated = false
        var outputExceeded = false
    }
}
