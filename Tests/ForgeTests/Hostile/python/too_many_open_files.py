# Open /dev/null until RLIMIT_NOFILE refuses, handle EMFILE, report and exit 0.
import errno, resource

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
files = []
try:
    while True:
        files.append(open("/dev/null", "rb"))
        if len(files) > 1_000_000:
            print("ESCAPED: no fd limit")
            break
except OSError as e:
    if e.errno != errno.EMFILE:
        raise
    print("EMFILE_HANDLED opened=%d rlimit=%d/%d" % (len(files), soft, hard))
