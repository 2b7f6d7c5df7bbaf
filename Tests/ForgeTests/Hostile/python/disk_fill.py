# Fill the directory argv[1] with 1 MiB writes until the kernel refuses.
# Mode argv[2]: "multi" (default) spreads the data over 16 MiB files, so the
# tmpfs size cap (ENOSPC) is what stops it whatever RLIMIT_FSIZE is (>= 16 MiB);
# "single" writes one file, so RLIMIT_FSIZE (EFBIG; Python ignores SIGXFSZ) or
# the tmpfs cap stops it, whichever is smaller. The program reports and re-raises.
import errno, os, sys

target = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
mode = sys.argv[2] if len(sys.argv) > 2 else "multi"
chunk = b"\xab" * (1 << 20)
per_file = 16 if mode == "multi" else 1 << 20
written = 0
try:
    i = 0
    while True:
        with open(os.path.join(target, "fill%03d.bin" % i), "wb", buffering=0) as f:
            for _ in range(per_file):
                written += f.write(chunk)
                if written >= (1 << 30):
                    print("ESCAPED: wrote 1 GiB to", target)
                    sys.exit(0)
        i += 1
except OSError as e:
    print("DISK_FULL dir=%s errno=%s after=%d MiB" % (target, errno.errorcode.get(e.errno, e.errno), written >> 20), flush=True)
    raise
