# Write to stderr forever: stderr has its own cap.
import sys

line = "E" * 1023 + "\n"
while True:
    sys.stderr.write(line)
