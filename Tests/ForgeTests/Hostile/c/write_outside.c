#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    const char *paths[] = {"/talos_escape", "/usr/talos_escape", "/etc/passwd", "/src/talos_escape", "/usr/include/stdio.h", "/box/bin/talos_escape"};
    int escaped = 0;
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
        int fd = open(paths[i], O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            escaped = 1;
            printf("wrote %s\n", paths[i]);
            close(fd);
        }
    }
    printf(escaped ? "ESCAPED\n" : "ALL_REFUSED\n");
    return 0;
}
