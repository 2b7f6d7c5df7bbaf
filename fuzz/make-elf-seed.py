#!/usr/bin/env python3
"""Writes a minimal 64-bit ELF shared object header set (PT_LOAD, PT_INTERP,
PT_DYNAMIC with DT_NEEDED, DT_RUNPATH and DT_STRTAB) to argv[1]: a seed for
the elf fuzz target, built here so no foreign binary enters the repository."""
import struct, sys

strings = b"\0libc.so.6\0libm.so.6\0$ORIGIN/../lib\0"
interp = b"/lib64/ld-linux-x86-64.so.2\0"
phoff, phnum = 64, 3
interp_at = phoff + 56 * phnum
strtab_at = interp_at + len(interp)
dynamic_at = (strtab_at + len(strings) + 7) & ~7
dynamic = struct.pack("<6Q", 1, 1, 1, 11, 29, 21) + struct.pack("<2Q", 5, strtab_at) + struct.pack("<2Q", 0, 0)
size = dynamic_at + len(dynamic)
header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
header += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
programs = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 0x1000)
programs += struct.pack("<IIQQQQQQ", 3, 4, interp_at, interp_at, interp_at, len(interp), len(interp), 1)
programs += struct.pack("<IIQQQQQQ", 2, 6, dynamic_at, dynamic_at, dynamic_at, len(dynamic), len(dynamic), 8)
body = header + programs + interp + strings
body += bytes(dynamic_at - len(body)) + dynamic
open(sys.argv[1], "wb").write(body)
