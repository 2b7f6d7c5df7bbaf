# Call every deliberately refused syscall directly (ctypes syscall(), no libc
# wrapper logic). Each must fail with EPERM (seccomp refusal) or ENOSYS
# (seccomp default / clone3). Prints one line per syscall, then "ALL_REFUSED";
# "ESCAPED <name>" if a call succeeded, "NOT_FILTERED <name>" if it reached the
# kernel and failed there with another errno (seccomp did not stop it).
import ctypes, errno, os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

S = ctypes.c_char_p
NULL = None
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x00020000, 0x10000000, 0x40000000, 0x20000000
SIGCHLD = 17

# name: (nr, args, accepted errnos)
EPERM, ENOSYS = errno.EPERM, errno.ENOSYS
calls = [
    ("unshare", 272, (CLONE_NEWUSER,), {EPERM}),
    ("unshare_newns", 272, (CLONE_NEWNS,), {EPERM}),
    ("setns", 308, (0, 0), {EPERM}),
    ("mount", 165, (S(b"none"), S(b"/tmp"), S(b"tmpfs"), 0, NULL), {EPERM}),
    ("umount2", 166, (S(b"/tmp"), 2), {EPERM}),
    ("pivot_root", 155, (S(b"/tmp"), S(b"/tmp")), {EPERM}),
    ("chroot", 161, (S(b"/tmp"),), {EPERM}),
    ("ptrace", 101, (16, 1, 0, 0), {EPERM}),  # PTRACE_ATTACH to pid 1
    ("bpf", 321, (5, NULL, 0), {EPERM}),  # BPF_PROG_LOAD
    ("perf_event_open", 298, (NULL, 0, -1, -1, 0), {EPERM}),
    ("keyctl", 250, (0, -3, 0), {EPERM}),  # KEYCTL_GET_KEYRING_ID session
    ("add_key", 248, (S(b"user"), S(b"talos"), S(b"x"), 1, -3), {EPERM}),
    ("request_key", 249, (S(b"user"), S(b"talos"), NULL, 0), {EPERM}),
    ("userfaultfd", 323, (0,), {EPERM}),
    ("io_uring_setup", 425, (8, NULL), {EPERM}),
    ("process_vm_readv", 310, (1, NULL, 0, NULL, 0, 0), {EPERM}),
    ("process_vm_writev", 311, (1, NULL, 0, NULL, 0, 0), {EPERM}),
    ("kexec_load", 246, (0, 0, NULL, 0), {EPERM}),
    ("kexec_file_load", 320, (-1, -1, 0, NULL, 0), {EPERM}),
    ("init_module", 175, (NULL, 0, S(b"")), {EPERM}),
    ("finit_module", 313, (-1, S(b""), 0), {EPERM}),
    ("delete_module", 176, (S(b"ext4"), 0), {EPERM}),
    ("open_by_handle_at", 304, (-1, NULL, 0), {EPERM}),
    ("name_to_handle_at", 303, (-100, S(b"/"), NULL, NULL, 0), {EPERM}),
    ("swapon", 167, (S(b"/tmp/swap"), 0), {EPERM}),
    ("swapoff", 168, (S(b"/tmp/swap"),), {EPERM}),
    ("reboot", 169, (0xfee1dead, 672274793, 0x4321fedc, NULL), {EPERM}),
    ("syslog", 103, (3, NULL, 0), {EPERM}),
    ("fsopen", 430, (S(b"tmpfs"), 0), {EPERM}),
    ("open_tree", 428, (-100, S(b"/"), 1), {EPERM}),
    ("pidfd_getfd", 438, (-1, 0, 0), {EPERM}),
    ("kcmp", 312, (1, 1, 0, 0, 0), {EPERM}),
    ("iopl", 172, (3,), {EPERM}),
    ("ioperm", 173, (0, 1024, 1), {EPERM}),
    ("modify_ldt", 154, (0, NULL, 0), {EPERM}),
    ("sethostname", 170, (S(b"pwned"), 5), {EPERM}),
    ("settimeofday", 164, (NULL, NULL), {EPERM}),
    ("acct", 163, (NULL,), {EPERM}),
    ("clone3", 435, (NULL, 0), {ENOSYS}),
    ("mknodat", 259, (-100, S(b"/tmp/mem"), 0o20666, (1 << 8) | 1), {ENOSYS}),
    ("vmsplice", 278, (-1, NULL, 0, 0), {ENOSYS}),
    ("personality_addr_no_randomize", 135, (0x0040000,), {ENOSYS}),
    ("lookup_dcookie", 212, (0, NULL, 0), {EPERM}),
]
# clone with namespace flags: if seccomp let it through it would fork, so the
# child exits at once and the parent reports it.
clone_calls = [("clone_newuser", CLONE_NEWUSER | SIGCHLD), ("clone_newns", CLONE_NEWNS | SIGCHLD),
               ("clone_newnet", CLONE_NEWNET | SIGCHLD), ("clone_newpid", CLONE_NEWPID | SIGCHLD)]

bad = []
for name, nr, args, ok in calls:
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[a if not isinstance(a, int) else ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    if r != -1:
        print("%s: returned %d" % (name, r))
        bad.append("ESCAPED " + name)
    else:
        print("%s: %s" % (name, errno.errorcode.get(e, e)))
        if e not in ok:
            bad.append("NOT_FILTERED %s %s" % (name, errno.errorcode.get(e, e)))
for name, flags in clone_calls:
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(56), ctypes.c_long(flags), None, None, None, ctypes.c_long(0))
    e = ctypes.get_errno()
    if r == 0:
        os._exit(0)  # we are the child of a clone that should not have happened
    if r > 0:
        os.waitpid(r, 0)
        print("%s: returned pid %d" % (name, r))
        bad.append("ESCAPED " + name)
    else:
        print("%s: %s" % (name, errno.errorcode.get(e, e)))
        if e != errno.EPERM:
            bad.append("NOT_FILTERED %s %s" % (name, errno.errorcode.get(e, e)))
for b in bad:
    print(b)
if not bad:
    print("ALL_REFUSED")
