// The refused syscalls again, issued with syscall.RawSyscall6 (Go does not go
// through libc). Each must fail with EPERM (or ENOSYS for clone3 and unlisted).
package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

func str(s string) uintptr {
	b, _ := syscall.BytePtrFromString(s)
	return uintptr(unsafe.Pointer(b))
}

func main() {
	EPERM, ENOSYS := syscall.EPERM, syscall.ENOSYS
	type call struct {
		name string
		nr   uintptr
		args [6]uintptr
		want syscall.Errno
	}
	neg := func(i int) uintptr { return uintptr(i) }
	calls := []call{
		{"unshare", 272, [6]uintptr{syscall.CLONE_NEWUSER}, EPERM},
		{"setns", 308, [6]uintptr{0, 0}, EPERM},
		{"mount", 165, [6]uintptr{str("none"), str("/tmp"), str("tmpfs"), 0, 0}, EPERM},
		{"umount2", 166, [6]uintptr{str("/tmp"), 2}, EPERM},
		{"pivot_root", 155, [6]uintptr{str("/tmp"), str("/tmp")}, EPERM},
		{"ptrace", 101, [6]uintptr{16, 1}, EPERM},
		{"bpf", 321, [6]uintptr{5, 0, 0}, EPERM},
		{"perf_event_open", 298, [6]uintptr{0, 0, neg(-1), neg(-1), 0}, EPERM},
		{"keyctl", 250, [6]uintptr{0, neg(-3), 0}, EPERM},
		{"add_key", 248, [6]uintptr{str("user"), str("talos"), str("x"), 1, neg(-3)}, EPERM},
		{"userfaultfd", 323, [6]uintptr{0}, EPERM},
		{"io_uring_setup", 425, [6]uintptr{8, 0}, EPERM},
		{"process_vm_readv", 310, [6]uintptr{1, 0, 0, 0, 0, 0}, EPERM},
		{"kexec_load", 246, [6]uintptr{0, 0, 0, 0}, EPERM},
		{"init_module", 175, [6]uintptr{0, 0, str("")}, EPERM},
		{"finit_module", 313, [6]uintptr{neg(-1), str(""), 0}, EPERM},
		{"delete_module", 176, [6]uintptr{str("ext4"), 0}, EPERM},
		{"open_by_handle_at", 304, [6]uintptr{neg(-1), 0, 0}, EPERM},
		{"swapon", 167, [6]uintptr{str("/tmp/swap"), 0}, EPERM},
		{"clone_newuser", 56, [6]uintptr{syscall.CLONE_NEWUSER | uintptr(syscall.SIGCHLD)}, EPERM},
		{"clone_newnet", 56, [6]uintptr{syscall.CLONE_NEWNET | uintptr(syscall.SIGCHLD)}, EPERM},
		{"clone3", 435, [6]uintptr{0, 0}, ENOSYS},
		{"mknodat", 259, [6]uintptr{neg(-100), str("/tmp/mem"), 0o20666, 0x101}, ENOSYS},
	}
	bad := []string{}
	for _, c := range calls {
		r, _, e := syscall.RawSyscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		if e == 0 {
			if r == 0 && c.nr == 56 {
				os.Exit(0) // child of a clone that must not have happened
			}
			fmt.Printf("%s: returned %d\n", c.name, r)
			bad = append(bad, "ESCAPED "+c.name)
			continue
		}
		fmt.Printf("%s: %v (errno %d)\n", c.name, e, int(e))
		if e != c.want {
			bad = append(bad, "NOT_FILTERED "+c.name)
		}
	}
	for _, b := range bad {
		fmt.Println(b)
	}
	if len(bad) == 0 {
		fmt.Println("ALL_REFUSED")
	}
}
