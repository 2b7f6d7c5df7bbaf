# Fill the directory given as argv[1] with 1 MiB writes until the kernel refuses.
# Expected: ENOSPC (tmpfs size) or EFBIG (RLIMIT_FSIZE); Python ignores SIGXFSZ,
# so EFBIG arrives as an exception. The program reports and re-raises.
import errno, os, sys

target = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
path = os.path.join(target, "fill.bin")
chunk = b"\xab" * (1 << 20)
written = 0
try:
    with open(path, "wb", buffering=0) as f:
        while True:
            n = f.write(chunk)
            written += n
            if written >= (1 << 30):
                print("ESCAPED: wrote 1 GiB to", target)
                sys.exit(0)
except OSError as e:
    print("DISK_FULL dir=%s errno=%s after=%d MiB" % (target, errno.errorcode.get(e.errno, e.errno), written >> 20), flush=True)
    raise
