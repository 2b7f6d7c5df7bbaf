#include <stdio.h>

int main(void) {
    printf("Hello, Talos!\n");
    return 0;
}
