# kill(-1, SIGKILL) and kill(1, SIGKILL) from inside the box. Inside its own pid
# namespace this can only reach the box's processes; the host, the engine and
# the box init must survive, and so does the caller (kill(-1) skips itself).
import os, signal, time

child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
print("child forked", flush=True)
try:
    os.kill(-1, signal.SIGKILL)
    print("kill(-1, SIGKILL): ok", flush=True)
except OSError as e:
    print("kill(-1, SIGKILL): %s" % e.strerror, flush=True)
_, status = os.waitpid(child, 0)
print("child killed by signal %d" % os.WTERMSIG(status) if os.WIFSIGNALED(status) else "child exited")
try:
    os.kill(1, signal.SIGKILL)
    print("kill(1, SIGKILL): delivered (ignored by the pid-namespace init)")
except OSError as e:
    print("kill(1, SIGKILL): %s" % e.strerror)
time.sleep(0.2)
print("init alive: %s" % os.path.exists("/proc/1"))
print("SURVIVED")
