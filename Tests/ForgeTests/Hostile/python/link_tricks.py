# Plant symlinks and hardlinks aimed at host files in every writable place,
# using names a host-side collector might read back (main, output.txt, out/,
# result.json, stdout). Hardlinks to files outside the writable tmpfs must fail
# (EXDEV / EPERM); symlinks are allowed inside the box but must stay harmless:
# the host never follows paths in a box (O_NOFOLLOW / fresh box per stage).
import errno, os

bad = []
report = []


def do(desc, fn):
    try:
        fn()
        report.append("%s: created" % desc)
        return True
    except OSError as e:
        report.append("%s: %s" % (desc, errno.errorcode.get(e.errno, e.errno)))
        return False


targets = {"main": "/etc/passwd", "output.txt": "/etc/shadow", "result.json": "/root/.ssh/id_rsa",
           "stdout": "/proc/1/root/etc/passwd", "out": "/etc", "bin": "/usr/bin",
           "escape_up": "../../../../../../../../etc/passwd", "host_work": "/work/main/Package.swift"}
for d in ("/box", "/tmp", "/dev/shm"):
    for name, target in targets.items():
        do("symlink %s/%s -> %s" % (d, name, target), lambda: os.symlink(target, os.path.join(d, name)))
# The symlinks resolve inside the box only.
try:
    data = open("/box/main").read()
    report.append("read via /box/main -> /etc/passwd: %d bytes (the box's own passwd)" % len(data))
    if "nobody:x:65534" not in data or len(data.splitlines()) > 3:
        bad.append("symlink resolved to a non-box passwd")
except OSError as e:
    report.append("read via /box/main: %s" % errno.errorcode.get(e.errno, e.errno))
# Hardlinks to files that are not on the writable tmpfs.
for src in ("/etc/passwd", os.path.abspath(__file__), "/usr/bin/python3", "/.talos/init", "/proc/self/status"):
    for d in ("/box", "/tmp"):
        dst = os.path.join(d, "hl_" + os.path.basename(src))
        if do("hardlink %s -> %s" % (dst, src), lambda: os.link(src, dst)):
            bad.append("hardlink to " + src)
# A hardlink to a symlink (linkat without AT_SYMLINK_FOLLOW links the symlink itself).
do("hardlink /box/main_hl -> /box/main (symlink)", lambda: os.link("/box/main", "/box/main_hl", follow_symlinks=False))
# A FIFO named like an output file (a host that opens it without O_NONBLOCK would hang).
do("mkfifo /box/output.fifo", lambda: os.mkfifo("/box/output.fifo"))
for r in report:
    print(r)
for b in bad:
    print("ESCAPED: " + b)
print("LINKS_DONE")
