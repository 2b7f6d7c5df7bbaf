# Uses no CPU at all; only the wall-clock limit can stop it.
import time

print("sleeping", flush=True)
time.sleep(60)
print("ESCAPED: woke up after 60 s")
