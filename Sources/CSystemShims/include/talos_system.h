#ifndef TALOS_SYSTEM_H
#define TALOS_SYSTEM_H

/// The Landlock ABI version the kernel offers, or -1 with errno set.
/// (landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION); Swift
/// cannot call the variadic syscall(2) directly.)
long talos_landlock_abi_version(void);

#endif

#ifndef TALOS_SYSTEM_PROCESS_H
#define TALOS_SYSTEM_PROCESS_H
#include <sys/types.h>

/// Makes this process the reaper of its orphaned descendants, so a
/// container's init, detached by its runtime, can be waited for.
int talos_set_child_subreaper(void);
/// Stops adopting orphaned descendants (tests that play a killed engine).
int talos_clear_child_subreaper(void);

/// Gives up root for good on the calling thread, and on every thread for the
/// ids: empties the capability bounding set, drops supplementary groups,
/// sets real, effective and saved gid and uid, clears ambient capabilities
/// and sets no_new_privs. Meant to be followed by an exec, which leaves one
/// thread with exactly this state. Returns 0, or -1 with errno set, or -2 if
/// root could be regained.
int talos_drop_privileges(unsigned int uid, unsigned int gid);

/// A listening Unix socket at `path` (mode 0600), close-on-exec. Returns the
/// descriptor, or -1 with errno set.
int talos_listen_unix(const char *path);
/// getresuid(2): real, effective and saved user ids. Returns 0 or -1.
int talos_getresuid(unsigned int *real, unsigned int *effective, unsigned int *saved);
/// getxattr(2): the attribute's length, or -1 with errno set.
long talos_getxattr(const char *path, const char *name, void *value, unsigned long size);
/// Accepts one connection on `listener`: its descriptor when the peer is
/// root, -2 when it is not (closed), -1 with errno set when accept fails.
int talos_accept_root_peer(int listener);
/// Reads what the runtime sends on `connection` when it hands over a seccomp
/// listener, until it closes: a JSON state of at most `capacity` bytes
/// (stored in `buffer`, its length in `length`) and one descriptor passed
/// with it (in `fd`, -1 if none). Closes `connection`; returns 0.
int talos_receive_seccomp_listener(int connection, char *buffer, size_t capacity, size_t *length, int *fd);
/// Waits up to `timeout_ms` for one notification on a seccomp listener and
/// reads it: its id, system call number and the caller's pid. Returns 1 when
/// one was read, 0 on timeout (or a caller gone first), -1 when no process
/// uses the filter any more.
int talos_seccomp_receive(int listener, int timeout_ms, unsigned long long *id, int *syscall_number, int *pid);
/// Answers notification `id`: the system call fails with `error` (a
/// positive errno). Returns 0, or -1 (the caller is gone).
int talos_seccomp_refuse(int listener, unsigned long long id, int error);

/// Starts `path` with `argv` (NULL-terminated) and a complete `envp`, with
/// fds 0, 1 and 2 taken from the given descriptors; closes every other
/// descriptor in the child. Returns the pid, or -1 with errno set.
pid_t talos_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd);
#endif

/// pipe2(fds, O_CLOEXEC), which Swift's Glibc module does not expose.
int talos_pipe_cloexec(int fds[2]);
