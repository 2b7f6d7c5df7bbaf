// Goroutines locked to OS threads and then parked: each one pins a thread,
// and threads count against the pids cgroup. When clone() fails the Go runtime
// dies with "runtime: failed to create new OS thread" (exit 2).
// Goroutines are started one at a time so the fatal error's goroutine dump
// stays well below the 64 KiB stderr cap (a dump of thousands of runnable
// goroutines would exceed it and make the verdict output_limit_exceeded).
package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	ready := make(chan struct{})
	for i := 0; i < 100000; i++ {
		go func() {
			runtime.LockOSThread()
			ready <- struct{}{}
			time.Sleep(time.Hour)
		}()
		<-ready
	}
	fmt.Println("ESCAPED: 100000 OS threads")
}
