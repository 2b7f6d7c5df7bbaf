import sys

print("exiting with 0")
sys.exit(0)
