import sys

args = sys.argv[1:]
print(len(args))
for a in args:
    print("[" + a + "]")
