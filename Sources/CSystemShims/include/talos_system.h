#ifndef TALOS_SYSTEM_H
#define TALOS_SYSTEM_H

/// The Landlock ABI version the kernel offers, or -1 with errno set.
/// (landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION); Swift
/// cannot call the variadic syscall(2) directly.)
long talos_landlock_abi_version(void);

#endif
