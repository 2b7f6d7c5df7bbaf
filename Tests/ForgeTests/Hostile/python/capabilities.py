# The box process must hold no capabilities, no_new_privs, seccomp filter mode,
# a non-root uid, and be unable to become root.
import os

status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
bad = []
for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    v = status[k].strip()
    print("%s=%s" % (k, v))
    if int(v, 16) != 0:
        bad.append(k)
for k, want in (("NoNewPrivs", "1"), ("Seccomp", "2")):
    v = status[k].strip()
    print("%s=%s" % (k, v))
    if v != want:
        bad.append(k)
uids = status["Uid"].split()
gids = status["Gid"].split()
print("Uid=%s Gid=%s Groups=%s" % (" ".join(uids), " ".join(gids), status.get("Groups", "").strip()))
if any(u == "0" for u in uids) or any(g == "0" for g in gids):
    bad.append("root uid/gid")
for fn, arg in ((os.setuid, 0), (os.setgid, 0), (os.seteuid, 0), (os.setgroups, [0])):
    try:
        fn(arg)
        bad.append(fn.__name__ + " succeeded")
    except OSError as e:
        print("%s(%r): %s" % (fn.__name__, arg, e.strerror))
print("uid_map: " + open("/proc/self/uid_map").read().strip())
for b in bad:
    print("ESCAPED: " + b)
if not bad:
    print("NO_CAPS")
