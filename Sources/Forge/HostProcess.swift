#if canImport(Glibc)
import Glibc
#endif
import CSystemShims
import TalosCore

/// Host-side processes: spawning with chosen descriptors, waiting, pipes.
/// Every call goes through ``systemCall`` so `EINTR` is retried.
enum HostProcess {
    /// A pipe whose both ends close on exec.
    static func pipe() throws -> (read: Int32, write: Int32) {
        var descriptors: [Int32] = [0, 0]
        try systemCall("pipe2") { talos_pipe_cloexec(&descriptors) }
        return (descriptors[0], descriptors[1])
    }

    /// Starts `argv` with an explicit environment and the given stdio.
    static func spawn(_ argv: [String], environment: [String] = ["PATH=/usr/bin:/bin"], stdin: Int32, stdout: Int32, stderr: Int32) throws -> pid_t {
        var cArguments = argv.map { strdup($0) } + [nil]
        var cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        return try systemCall("posix_spawn") {
            talos_spawn(argv[0], &cArguments, &cEnvironment, stdin, stdout, stderr)
        }
    }

    /// Blocks until `pid` ends; returns its raw wait status.
    static func wait(_ pid: pid_t) throws -> Int32 {
        var status: Int32 = 0
        try systemCall("waitpid") { waitpid(pid, &status, 0) }
        return status
    }

    /// Runs a short host command (crun's own verbs) to completion, returning
    /// its exit status and at most 64 KiB of combined output.
    @discardableResult
    static func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        let devNull = try systemCall("open") { open("/dev/null", O_RDONLY | O_CLOEXEC) }
        defer { close(devNull) }
        let output = try pipe()
        let pid: pid_t
        do {
            pid = try spawn(argv, stdin: devNull, stdout: output.write, stderr: output.write)
        } catch {
            close(output.read)
            close(output.write)
            throw error
        }
        close(output.write)
        let bytes = readAll(output.read, limit: 64 * 1024).bytes
        close(output.read)
        let status = try wait(pid)
        return (exitCode(status) ?? -1, String(decoding: bytes, as: UTF8.self))
    }

    /// Reads until end of file, keeping at most `limit` bytes but draining the rest.
    static func readAll(_ descriptor: Int32, limit: Int) -> (bytes: [UInt8], truncated: Bool) {
        var kept: [UInt8] = []
        var truncated = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                break
            }
            if count == 0 { break }
            let room = max(0, limit - kept.count)
            if count > room { truncated = true }
            kept += buffer[0..<min(count, room)]
        }
        return (kept, truncated)
    }

    static func exitCode(_ status: Int32) -> Int32? {
        status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    }

    static func terminatingSignal(_ status: Int32) -> Int32? {
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? signal : nil
    }
}

/// Short host commands for diagnostics, spawned directly. Foundation's
/// `Process` is not used: it waits on a run loop whose wakeup socket needs
/// loopback, and hangs for good on a host whose loopback is down.
public enum HostCommand {
    /// Runs `argv` (an absolute path first) to completion: its exit status
    /// and at most 64 KiB of combined output; -1 when it cannot start.
    public static func run(_ argv: [String]) -> (status: Int32, output: String) {
        guard let first = argv.first, first.hasPrefix("/") else { return (-1, "not an absolute path") }
        return (try? HostProcess.run(argv)) ?? (-1, "cannot start \(first)")
    }
}
