# Grow by 10 MiB every 50 ms, touching every page, until something stops us.
import time

chunks = []
while True:
    chunks.append(bytearray(10 << 20))
    if len(chunks) * 10 >= 4096:
        print("ESCAPED: holding", len(chunks) * 10, "MiB")
        break
    time.sleep(0.05)
