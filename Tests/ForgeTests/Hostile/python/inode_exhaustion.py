# Create empty files in /tmp until the tmpfs runs out of inodes, then re-raise.
import errno, os

n = 0
try:
    while True:
        open("/tmp/f%06d" % n, "w").close()
        n += 1
        if n >= 1_000_000:
            print("ESCAPED: created", n, "files")
            break
except OSError as e:
    print("INODES_EXHAUSTED errno=%s after=%d files" % (errno.errorcode.get(e.errno, e.errno), n), flush=True)
    raise
