# Double fork + setsid: the grandchild detaches, keeps stdout open and sleeps;
# if it is still alive 3 s later it prints ESCAPED. The parent exits at once.
# The box must end (and the grandchild die) when the main process exits.
import os, sys, time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(60):
            time.sleep(1)
            if _ == 2:
                print("ESCAPED: daemon still running after parent exit", flush=True)
        os._exit(0)
    os._exit(0)
os.wait()
print("PARENT_EXIT", flush=True)
sys.exit(0)
