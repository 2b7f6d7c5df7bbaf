# Write to stdout forever: the engine must stop reading at the cap and kill the box.
import sys

line = "A" * 1023 + "\n"
while True:
    sys.stdout.write(line)
