#include "talos_system.h"

#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

long talos_landlock_abi_version(void) {
    return syscall(SYS_landlock_create_ruleset, (void *)0, (unsigned long)0, (unsigned int)1);
}
