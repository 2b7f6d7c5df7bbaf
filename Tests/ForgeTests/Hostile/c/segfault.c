#include <stdio.h>

int main(void) {
    printf("before\n");
    fflush(stdout);
    volatile int *nowhere = (int *)16;
    *nowhere = 1;
    return 0;
}
