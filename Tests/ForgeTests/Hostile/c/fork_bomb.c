#include <stdio.h>
#include <unistd.h>

int main(void) {
    for (int forks = 0;; forks++) {
        pid_t pid = fork();
        if (pid < 0) {
            printf("fork refused after %s\n", forks > 10 ? "many" : "few");
            return 0;
        }
        if (pid == 0) {
            pause();
            _exit(0);
        }
    }
}
