#include <stdlib.h>
#include <string.h>

int main(void) {
    for (;;) {
        char *block = malloc(64 << 20);
        if (block == NULL) return 3;
        memset(block, 1, 64 << 20);
    }
}
