#define _GNU_SOURCE
#include "talos_system.h"

#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

long talos_landlock_abi_version(void) {
    return syscall(SYS_landlock_create_ruleset, (void *)0, (unsigned long)0, (unsigned int)1);
}

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>

int talos_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int talos_clear_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

pid_t talos_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    pid_t pid = -1;
    int result;
    if ((result = posix_spawn_file_actions_init(&actions)) != 0) { errno = result; return -1; }
    if ((result = posix_spawnattr_init(&attributes)) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        errno = result;
        return -1;
    }
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    sigset_t defaults;
    sigfillset(&defaults);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    result = posix_spawn(&pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (result != 0) { errno = result; return -1; }
    return pid;
}

int talos_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

#include <grp.h>
#include <linux/capability.h>

int talos_drop_privileges(unsigned int uid, unsigned int gid) {
    if (uid == 0 || gid == 0) { errno = EINVAL; return -1; }
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    }
    if (setgroups(0, NULL) != 0) return -1;
    if (setresgid(gid, gid, gid) != 0) return -1;
    if (setresuid(uid, uid, uid) != 0) return -1;
    (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (setuid(0) == 0 || seteuid(0) == 0) return -2;
    uid_t real, effective, saved;
    if (getresuid(&real, &effective, &saved) != 0 || real == 0 || effective == 0 || saved == 0) return -2;
    return 0;
}

#include <linux/seccomp.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

int talos_listen_unix(const char *path) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(address.sun_path, path);
    int descriptor = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (descriptor < 0) return -1;
    unlink(path);
    // The directory (0700, root's) keeps others out; the mode is set at once.
    int bound = bind(descriptor, (struct sockaddr *)&address, sizeof address);
    if (bound == 0) (void)chmod(path, 0600);
    if (bound != 0 || listen(descriptor, 64) != 0) {
        int saved = errno;
        close(descriptor);
        errno = saved;
        return -1;
    }
    return descriptor;
}

int talos_accept_root_peer(int listener) {
    int connection;
    do { connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC); } while (connection < 0 && errno == EINTR);
    if (connection < 0) return -1;
    // Only root (crun) hands over listeners.
    struct ucred peer;
    socklen_t peer_length = sizeof peer;
    if (getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &peer, &peer_length) != 0 || peer.uid != 0) {
        close(connection);
        return -2;
    }
    return connection;
}

int talos_receive_seccomp_listener(int connection, char *buffer, size_t capacity, size_t *length, int *fd) {
    *length = 0;
    *fd = -1;
    // No time limit: crun connects when it creates a box and hands the
    // listener over when the box starts, which for a box created ahead may
    // be much later. The peer is root's crun; it ends with its box.
    for (;;) {
        char control[CMSG_SPACE(sizeof(int) * 4)];
        struct iovec vector = { .iov_base = buffer + *length, .iov_len = capacity - *length };
        struct msghdr message;
        memset(&message, 0, sizeof message);
        message.msg_iov = &vector;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        if (vector.iov_len == 0) break;
        ssize_t received = recvmsg(connection, &message, MSG_CMSG_CLOEXEC);
        if (received < 0 && errno == EINTR) continue;
        if (received <= 0) break;
        for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *descriptors = (int *)CMSG_DATA(header);
            for (size_t index = 0; index < count; index++) {
                if (*fd < 0) *fd = descriptors[index]; else close(descriptors[index]);
            }
        }
        *length += (size_t)received;
    }
    close(connection);
    return 0;
}

int talos_seccomp_receive(int listener, int timeout_ms, unsigned long long *id, int *syscall_number, int *pid) {
    struct pollfd waiting = { .fd = listener, .events = POLLIN };
    int ready;
    do { ready = poll(&waiting, 1, timeout_ms); } while (ready < 0 && errno == EINTR);
    if (ready < 0) return -1;
    if (ready == 0) return 0;
    if (!(waiting.revents & POLLIN)) return -1;
    struct seccomp_notif request;
    memset(&request, 0, sizeof request);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
        // The caller died before its call was read, or the filter is gone.
        return (errno == EINTR || errno == ENOENT) ? 0 : -1;
    }
    *id = request.id;
    *syscall_number = request.data.nr;
    *pid = (int)request.pid;
    return 1;
}

int talos_seccomp_refuse(int listener, unsigned long long id, int error) {
    struct seccomp_notif_resp response;
    memset(&response, 0, sizeof response);
    response.id = id;
    response.error = -error;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response) == 0 ? 0 : -1;
}

#include <sys/xattr.h>

long talos_getxattr(const char *path, const char *name, void *value, unsigned long size) {
    return (long)getxattr(path, name, value, size);
}

int talos_getresuid(unsigned int *real, unsigned int *effective, unsigned int *saved) {
    uid_t r, e, s;
    if (getresuid(&r, &e, &s) != 0) return -1;
    *real = r; *effective = e; *saved = s;
    return 0;
}
