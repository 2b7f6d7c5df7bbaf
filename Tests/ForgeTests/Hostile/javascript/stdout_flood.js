// Unbounded stdout from Node (pipe writes are synchronous on Linux).
const line = "J".repeat(1023) + "\n";
for (;;) process.stdout.write(line);
