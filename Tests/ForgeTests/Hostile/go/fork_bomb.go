// Go cannot fork without exec, so every process re-executes itself in a loop
// (clone(CLONE_VM|CLONE_VFORK) + execve), ignoring EAGAIN from the pids cgroup.
package main

import "os/exec"

func main() {
	for {
		cmd := exec.Command("/proc/self/exe")
		_ = cmd.Start()
	}
}
