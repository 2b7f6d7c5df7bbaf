# Four busy processes: each one stays far below a per-process RLIMIT_CPU,
# only the job's total (cgroup cpuacct) reaches the CPU limit.
import os

for _ in range(3):
    if os.fork() == 0:
        break
while True:
    pass
