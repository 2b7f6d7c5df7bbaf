// Busy loop: must end by the CPU-time limit.
for (;;) {}
