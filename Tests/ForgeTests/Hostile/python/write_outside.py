# Try to write everywhere except /box, /tmp and /dev/shm. Every attempt must fail.
import errno, os, stat

attempts = []


def tryit(name, fn):
    try:
        fn()
        attempts.append((name, "SUCCEEDED"))
    except OSError as e:
        attempts.append((name, errno.errorcode.get(e.errno, str(e.errno))))


def write(path, data, mode="w"):
    # open + write + close inside the attempt, so an error raised at close()
    # (buffered text I/O) is not lost
    def fn():
        with open(path, mode) as f:
            f.write(data)
    return fn


def create(path):
    return write(path, "ESCAPED\n")


for d in ["/", "/usr", "/usr/bin", "/usr/lib/x86_64-linux-gnu", "/lib", "/etc", "/src", "/proc", "/.talos", "/dev"]:
    tryit("create " + os.path.join(d, "talos_escape"), create(os.path.join(d, "talos_escape")))
tryit("mkdir /escape_dir", lambda: os.mkdir("/escape_dir"))
tryit("append /etc/passwd", write("/etc/passwd", "evil::0:0::/:/bin/sh\n", "a"))
tryit("append /etc/hosts", write("/etc/hosts", "1.2.3.4 evil\n", "a"))
tryit("truncate /.talos/init", lambda: open("/.talos/init", "r+b").truncate(0))
tryit("overwrite /usr/bin/python3", write("/usr/bin/python3", b"\0", "r+b"))
tryit("unlink /usr/bin/python3", lambda: os.unlink("/usr/bin/python3"))
tryit("rename /etc/passwd", lambda: os.rename("/etc/passwd", "/etc/passwd.bak"))
tryit("chmod /etc/passwd 0666", lambda: os.chmod("/etc/passwd", 0o666))
tryit("write /proc/sys/kernel/hostname", write("/proc/sys/kernel/hostname", "pwned"))
tryit("write /proc/sys/vm/drop_caches", write("/proc/sys/vm/drop_caches", "3"))
# Stock runtimes mask /proc/sysrq-trigger with /dev/null: a write there
# "succeeds" and reaches nothing. Only the real proc file counts.
def sysrq():
    info = os.stat("/proc/sysrq-trigger")
    if stat.S_ISCHR(info.st_mode) and (os.major(info.st_rdev), os.minor(info.st_rdev)) == (1, 3):
        raise OSError(errno.ENODEV, "masked by /dev/null")
    if not stat.S_ISREG(info.st_mode) or os.stat("/proc").st_dev != info.st_dev:
        raise OSError(errno.ENODEV, "not the proc file")
    write("/proc/sysrq-trigger", "b")()


tryit("write /proc/sysrq-trigger", sysrq)
# Lowering oom_score_adj (to become the host OOM killer's last choice) needs CAP_SYS_RESOURCE.
tryit("write /proc/1/oom_score_adj -1000", write("/proc/1/oom_score_adj", "-1000"))
tryit("write /proc/self/oom_score_adj -1000", write("/proc/self/oom_score_adj", "-1000"))

print("oom_score_adj now: self=%s init=%s" % (open("/proc/self/oom_score_adj").read().strip(),
                                             open("/proc/1/oom_score_adj").read().strip()))
for name, res in attempts:
    print("%s: %s" % (name, res))
if any(r == "SUCCEEDED" for _, r in attempts):
    print("ESCAPED")
else:
    print("ALL_REFUSED")
