# Try to write everywhere except /box, /tmp and /dev/shm. Every attempt must fail.
import errno, os

attempts = []


def tryit(name, fn):
    try:
        fn()
        attempts.append((name, "SUCCEEDED"))
    except OSError as e:
        attempts.append((name, errno.errorcode.get(e.errno, str(e.errno))))


def create(path):
    return lambda: open(path, "w").write("ESCAPED\n")


for d in ["/", "/usr", "/usr/bin", "/usr/lib/x86_64-linux-gnu", "/lib", "/etc", "/src", "/proc", "/.talos", "/dev"]:
    tryit("create " + os.path.join(d, "talos_escape"), create(os.path.join(d, "talos_escape")))
tryit("mkdir /escape_dir", lambda: os.mkdir("/escape_dir"))
tryit("append /etc/passwd", lambda: open("/etc/passwd", "a").write("evil::0:0::/:/bin/sh\n"))
tryit("append /etc/hosts", lambda: open("/etc/hosts", "a").write("1.2.3.4 evil\n"))
tryit("truncate /.talos/init", lambda: open("/.talos/init", "r+b").truncate(0))
tryit("overwrite /usr/bin/python3", lambda: open("/usr/bin/python3", "r+b").write(b"\0"))
tryit("unlink /usr/bin/python3", lambda: os.unlink("/usr/bin/python3"))
tryit("rename /etc/passwd", lambda: os.rename("/etc/passwd", "/etc/passwd.bak"))
tryit("chmod /etc/passwd 0666", lambda: os.chmod("/etc/passwd", 0o666))
tryit("write /proc/sys/kernel/hostname", lambda: open("/proc/sys/kernel/hostname", "w").write("pwned"))
tryit("write /proc/sys/vm/drop_caches", lambda: open("/proc/sys/vm/drop_caches", "w").write("3"))
tryit("write /proc/sysrq-trigger", lambda: open("/proc/sysrq-trigger", "w").write("b"))
tryit("write /proc/1/oom_score_adj", lambda: open("/proc/1/oom_score_adj", "w").write("-1000"))
tryit("write /proc/self/oom_score_adj -1000", lambda: open("/proc/self/oom_score_adj", "w").write("-1000"))

for name, res in attempts:
    print("%s: %s" % (name, res))
if any(r == "SUCCEEDED" for _, r in attempts):
    print("ESCAPED")
else:
    print("ALL_REFUSED")
