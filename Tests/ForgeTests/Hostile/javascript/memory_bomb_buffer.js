// Allocate off-heap memory (Buffers are outside the V8 heap, so
// --max-old-space-size does not apply): only the memory cgroup stops it.
const keep = [];
for (;;) {
  keep.push(Buffer.alloc(16 << 20, 1));
  if (keep.length * 16 >= 4096) { console.log("ESCAPED: holding " + keep.length * 16 + " MiB"); break; }
}
