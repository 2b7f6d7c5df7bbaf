# Allocate and touch 4 GiB at once (bytearray() zero-fills, so every page is touched).
x = bytearray(4 << 30)
print("ESCAPED: allocated", len(x))
