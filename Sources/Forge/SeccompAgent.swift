import CSystemShims
import Foundation
import Synchronization

/// Hears every system call the seccomp profile refuses on purpose, so each
/// refusal reaches the audit trail.
///
/// Those rules use `SCMP_ACT_NOTIFY`: crun hands each box's seccomp
/// listener to this agent's socket (`listenerPath`, with the box's id as
/// `listenerMetadata`), and the kernel holds the calling thread until the
/// agent answers. The agent counts the call for its box, then fails it with
/// EPERM, exactly as an `SCMP_ACT_ERRNO` rule would. Without the agent a box
/// cannot start (crun cannot hand over its listener): it fails closed.
final class SeccompAgent: Sendable {
    let socketPath: String
    private let listener: Int32
    /// Refused calls per box, by system call number, and the boxes whose
    /// filter no process uses any more (nothing more can be counted).
    private let refusals = Mutex<(counts: [String: [Int32: Int]], finished: Set<String>)>(([:], []))
    private let closed = Atomic<Bool>(false)

    init(socketPath: String) throws {
        self.socketPath = socketPath
        let descriptor = talos_listen_unix(socketPath)
        guard descriptor >= 0 else {
            throw ForgeError.sandboxUnavailable("cannot listen for seccomp notifications at \(socketPath): \(String(cString: strerror(errno)))")
        }
        listener = descriptor
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Stops accepting; boxes started afterwards cannot start.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        unlink(socketPath)
    }

    deinit {
        close()
        Glibc.close(listener)
    }

    /// The refusals of `box`, forgotten once taken. Called once its processes
    /// are gone: waits (at most two seconds) until the agent has seen its
    /// filter released, so calls of processes that were being killed count.
    func take(box: String) -> [String: Int] {
        var counts: [Int32: Int]?
        let deadline = ContinuousClock.now + .seconds(2)
        while true {
            let (done, taken) = refusals.withLock { state -> (Bool, [Int32: Int]?) in
                let done = state.finished.contains(box) || ContinuousClock.now >= deadline
                guard done else { return (false, nil) }
                state.finished.remove(box)
                return (true, state.counts.removeValue(forKey: box))
            }
            if done {
                counts = taken
                break
            }
            // Only a box that had refusals and still has a listener waits.
            let pending = refusals.withLock { $0.counts[box] != nil }
            if !pending {
                refusals.withLock { state in
                    state.finished.remove(box)
                    counts = state.counts.removeValue(forKey: box)
                }
                break
            }
            usleep(5_000)
        }
        let counted = counts ?? [:]
        var named: [String: Int] = [:]
        for (number, count) in counted { named[Self.names[number] ?? "syscall \(number)", default: 0] += count }
        return named
    }

    private func acceptLoop() {
        while !closed.load(ordering: .acquiring) {
            let connection = talos_accept_root_peer(listener)
            if connection == -2 { continue }
            if connection < 0 {
                if closed.load(ordering: .acquiring) || errno == EBADF || errno == EINVAL { return }
                // Out of descriptors, or a peer gone: not a tight loop.
                usleep(100_000)
                continue
            }
            // crun connects when it creates a box and sends the listener when
            // the box starts: one thread per box, each waiting for its own.
            Thread.detachNewThread { [self] in receive(connection) }
        }
    }

    private func receive(_ connection: Int32) {
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        var length = 0
        var descriptor: Int32 = -1
        _ = buffer.withUnsafeMutableBufferPointer {
            talos_receive_seccomp_listener(connection, $0.baseAddress, $0.count, &length, &descriptor)
        }
        guard descriptor >= 0 else { return }
        let state = buffer.withUnsafeBufferPointer { Data(buffer: UnsafeBufferPointer(start: $0.baseAddress, count: min(length, $0.count))) }
        serve(listener: descriptor, box: Self.metadata(in: state))
    }

    /// Answers every notification of one box's filter until no process uses it.
    private func serve(listener notifications: Int32, box: String?) {
        defer {
            Glibc.close(notifications)
            if let box {
                refusals.withLock { state in
                    guard state.counts[box] != nil else { return }
                    state.finished.insert(box)
                    // Counts nobody will take (a stage already recorded, then
                    // a dying process's call): bounded, dropped in bulk.
                    if state.finished.count > 4096 {
                        for stale in state.finished { state.counts.removeValue(forKey: stale) }
                        state.finished.removeAll()
                    }
                }
            }
        }
        while true {
            var id: UInt64 = 0
            var number: Int32 = 0
            var pid: Int32 = 0
            let received = talos_seccomp_receive(notifications, 1000, &id, &number, &pid)
            if received < 0 { return }
            if received == 0 { continue }
            // Counted before the answer: the call cannot return, and so the
            // stage cannot end, before its refusal is on the record. A box
            // with no name is refused all the same, and counted nowhere.
            if let box { refusals.withLock { $0.counts[box, default: [:]][number, default: 0] += 1 } }
            _ = talos_seccomp_refuse(notifications, id, EPERM)
        }
    }

    /// The box id crun passes back from `listenerMetadata`.
    static func metadata(in state: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: state) as? [String: Any],
            let metadata = object["metadata"] as? String, !metadata.isEmpty, metadata.utf8.count <= 256
        else { return nil }
        return metadata
    }

    /// x86_64 numbers of the system calls the profile refuses on purpose.
    static let names: [Int32: String] = [
        56: "clone", 101: "ptrace", 103: "syslog", 153: "vhangup", 154: "modify_ldt", 155: "pivot_root", 159: "adjtimex",
        161: "chroot", 163: "acct", 164: "settimeofday", 165: "mount", 166: "umount2", 167: "swapon", 168: "swapoff",
        169: "reboot", 170: "sethostname", 171: "setdomainname", 172: "iopl", 173: "ioperm", 175: "init_module",
        176: "delete_module", 179: "quotactl", 212: "lookup_dcookie", 227: "clock_settime", 246: "kexec_load", 248: "add_key",
        249: "request_key", 250: "keyctl", 272: "unshare", 298: "perf_event_open", 300: "fanotify_init", 301: "fanotify_mark",
        303: "name_to_handle_at", 304: "open_by_handle_at", 305: "clock_adjtime", 308: "setns", 310: "process_vm_readv",
        311: "process_vm_writev", 312: "kcmp", 313: "finit_module", 320: "kexec_file_load", 321: "bpf", 323: "userfaultfd",
        425: "io_uring_setup", 426: "io_uring_enter", 427: "io_uring_register", 428: "open_tree", 429: "move_mount",
        430: "fsopen", 431: "fsconfig", 432: "fsmount", 433: "fspick", 438: "pidfd_getfd", 440: "process_madvise",
        442: "mount_setattr",
    ]
}
