/*
 * talos-launch: the first program of every box, run by the box's init.
 *
 * A box is created before its job is known (Forge keeps a pool of boxes
 * created ahead), so its configuration cannot carry the job's command line
 * or the limits that are set per process. The engine writes them, after the
 * box exists and before it starts, to /.talos/job/argv, a read-only file of
 * NUL-terminated fields:
 *
 *   "talos-job-1", open files, file size bytes, CPU soft seconds,
 *   CPU hard seconds, argument count, then the arguments.
 *
 * This program lowers RLIMIT_NOFILE, RLIMIT_FSIZE and RLIMIT_CPU to the
 * job's values (it runs as the box's unprivileged user, so it can only lower
 * them, and neither can what it executes) and executes the job in its own
 * place. Anything malformed ends the box with status 127 and one line on
 * stderr; nothing of the job runs.
 *
 * Built static (scripts/build-launcher.sh): a box may hold no C library.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define JOB_PATH "/.talos/job/argv"
#define JOB_MAGIC "talos-job-1"
#define JOB_MAX (1 << 20)
#define ARGS_MAX 1024

extern char **environ;

static char job[JOB_MAX + 1];
static char *arguments[ARGS_MAX + 1];

static void fail(const char *what) {
    const char *prefix = "talos-launch: ";
    (void)!write(2, prefix, strlen(prefix));
    (void)!write(2, what, strlen(what));
    (void)!write(2, "\n", 1);
    _exit(127);
}

/* The next NUL-terminated field at *offset, or NULL past the end. */
static char *field(size_t length, size_t *offset) {
    if (*offset >= length) return NULL;
    char *start = job + *offset;
    char *end = memchr(start, '\0', length - *offset);
    if (end == NULL) return NULL;
    *offset = (size_t)(end - job) + 1;
    return start;
}

/* A decimal number of 1 to 18 digits, nothing else. */
static int number(char *text, unsigned long long *value) {
    size_t digits = strlen(text);
    if (digits == 0 || digits > 18) return -1;
    unsigned long long result = 0;
    for (size_t index = 0; index < digits; index++) {
        if (text[index] < '0' || text[index] > '9') return -1;
        result = result * 10 + (unsigned long long)(text[index] - '0');
    }
    *value = result;
    return 0;
}

static void lower(int resource, unsigned long long soft, unsigned long long hard, const char *name) {
    struct rlimit limit = {.rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard};
    if (soft > hard || setrlimit(resource, &limit) != 0) fail(name);
}

int main(void) {
    int descriptor = open(JOB_PATH, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (descriptor < 0) fail("no job in this box");
    size_t length = 0;
    for (;;) {
        ssize_t count = read(descriptor, job + length, JOB_MAX + 1 - length);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) fail("cannot read the job");
        if (count == 0) break;
        length += (size_t)count;
        if (length > JOB_MAX) fail("the job is too large");
    }
    close(descriptor);

    size_t offset = 0;
    char *magic = field(length, &offset);
    if (magic == NULL || strcmp(magic, JOB_MAGIC) != 0) fail("not a job file");
    unsigned long long values[5];
    for (int index = 0; index < 5; index++) {
        char *text = field(length, &offset);
        if (text == NULL || number(text, &values[index]) != 0) fail("malformed job limits");
    }
    unsigned long long count = values[4];
    if (count < 1 || count > ARGS_MAX) fail("malformed argument count");
    for (unsigned long long index = 0; index < count; index++) {
        arguments[index] = field(length, &offset);
        if (arguments[index] == NULL) fail("missing arguments");
    }
    arguments[count] = NULL;
    if (offset != length) fail("trailing bytes after the arguments");

    lower(RLIMIT_NOFILE, values[0], values[0], "cannot lower the open file limit");
    lower(RLIMIT_FSIZE, values[1], values[1], "cannot lower the file size limit");
    lower(RLIMIT_CPU, values[2], values[3], "cannot lower the CPU time limit");

    execve(arguments[0], arguments, environ);
    fail(errno == ENOENT ? "the program is missing" : "cannot execute the program");
    return 127;
}
