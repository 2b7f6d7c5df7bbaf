# Look for host secrets from inside the box. Prints "NO_HOST_SECRETS" if none
# were visible, "ESCAPED: ..." for each one that was.
import os

leaks = []


def readable(path):
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20)
    except OSError:
        return None


# 1. Files that only exist on the host.
for p in ["/etc/shadow", "/etc/gshadow", "/etc/ssh/ssh_host_ed25519_key", "/root/.ssh/id_rsa",
          "/root/.bash_history", "/proc/1/root/etc/shadow", "/proc/self/root/../../etc/shadow",
          "/var/run/docker.sock", "/run/crun", "/sys/kernel/security"]:
    if readable(p) is not None or os.path.exists(p):
        leaks.append("host path visible: " + p)

# 2. Processes: only the box's own pid namespace (pid 1 = the box init).
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
init = (readable("/proc/1/cmdline") or b"").split(b"\0")[0]
if init != b"/.talos/init":
    leaks.append("pid 1 is %r, not the box init" % init)
if len(pids) > 10:
    leaks.append("%d processes visible" % len(pids))

# 3. Environment of every visible process: no host variables, no canary.
for p in ["self"] + [str(x) for x in pids]:
    env = readable("/proc/%s/environ" % p) or b""
    for marker in (b"TALOS_HOST_CANARY", b"HOME=/root", b"SSH_AUTH_SOCK", b"AWS_", b"TALOS_MASTER"):
        if marker in env:
            leaks.append("/proc/%s/environ contains %r" % (p, marker))

# 4. Mount table: which host paths are mounted here (informational lines), and
#    no mount of a host directory that holds data (/, /home, /root, /var, /work, /run).
mountinfo = (readable("/proc/self/mountinfo") or b"").decode(errors="replace")
for line in mountinfo.splitlines():
    f = line.split()
    root, mnt = f[3], f[4]
    print("MOUNT %s <- %s" % (mnt, root))
    if mnt in ("/home", "/root", "/var", "/work", "/run", "/sys", "/boot") or mnt.startswith(("/home/", "/root/", "/work/")):
        leaks.append("host data dir mounted at " + mnt)
    if root == "/" and mnt == "/":
        leaks.append("host root filesystem is the box root")

# 5. The kernel keyring is masked.
if readable("/proc/keys"):
    leaks.append("/proc/keys readable")

# 6. Host-wide facts that /proc still shows (informational, not failures).
for p in ["/proc/cmdline", "/proc/version", "/proc/modules", "/proc/kallsyms", "/proc/sys/kernel/hostname",
          "/proc/self/cgroup", "/proc/loadavg"]:
    data = readable(p)
    first = data.split(b"\n")[0][:100].decode(errors="replace") if data is not None else "<unreadable>"
    print("INFO %s: %s" % (p, first))

for l in leaks:
    print("ESCAPED: " + l)
if not leaks:
    print("NO_HOST_SECRETS")
