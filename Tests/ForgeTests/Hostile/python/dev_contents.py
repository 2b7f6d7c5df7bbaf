# /dev must contain only the harmless character devices (null, zero, full,
# random, urandom, tty) plus crun's standard symlinks and the shm/pts/mqueue
# directories; no block devices, no /dev/mem, /dev/kmsg, /dev/vda, ...
import errno, os, stat

ALLOWED_CHR = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
bad = []
for name in sorted(os.listdir("/dev")):
    p = "/dev/" + name
    st = os.lstat(p)
    if stat.S_ISCHR(st.st_mode):
        kind = "chr %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        if ALLOWED_CHR.get(name) != (os.major(st.st_rdev), os.minor(st.st_rdev)):
            bad.append(name)
    elif stat.S_ISBLK(st.st_mode):
        kind = "BLOCK"
        bad.append(name)
    elif stat.S_ISLNK(st.st_mode):
        kind = "-> " + os.readlink(p)
    elif stat.S_ISDIR(st.st_mode):
        kind = "dir"
        if name not in ("shm", "pts", "mqueue"):
            bad.append(name)
    else:
        kind = "other"
        bad.append(name)
    print("%s: %s" % (name, kind))
# /dev/tty exists but the box has no controlling terminal.
try:
    os.open("/dev/tty", os.O_RDWR)
    bad.append("tty openable")
except OSError as e:
    print("open /dev/tty: " + errno.errorcode[e.errno])
# Device nodes can neither be created...
try:
    os.mknod("/tmp/mem", 0o666 | stat.S_IFCHR, os.makedev(1, 1))
    bad.append("mknod succeeded")
except OSError as e:
    print("mknod /tmp/mem c 1 1: " + errno.errorcode[e.errno])
# ...nor used where they would matter (devices cgroup + nodev).
for p in ("/dev/mem", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/kvm", "/dev/fuse", "/dev/net/tun", "/dev/ptmx"):
    try:
        os.close(os.open(p, os.O_RDONLY))
        bad.append("opened " + p)
    except OSError as e:
        print("open %s: %s" % (p, errno.errorcode[e.errno]))
for b in bad:
    print("ESCAPED: unexpected device " + b)
if not bad:
    print("DEV_OK")
