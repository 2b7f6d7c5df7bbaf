// Grow the V8 heap until something stops it. With --max-old-space-size below
// the cgroup limit V8 aborts ("JavaScript heap out of memory", exit 134).
const keep = [];
let i = 0;
for (;;) {
  keep.push(new Array(1 << 16).fill(i++));
  if (keep.length > 1e6) { console.log("ESCAPED"); break; }
}
