# Classic fork bomb: every process forks forever and ignores EAGAIN.
# The pids cgroup must cap it; the wall clock must end it; nothing may survive.
import os

forks = 0
while True:
    try:
        if os.fork() == 0:
            forks = 0
        else:
            forks += 1
    except OSError:
        pass
