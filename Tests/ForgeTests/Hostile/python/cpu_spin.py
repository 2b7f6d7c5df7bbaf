# Busy loop forever: must end by the CPU-time limit, not the wall clock.
while True:
    pass
