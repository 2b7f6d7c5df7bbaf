// Every way out of the box must fail. Go uses its own resolver and raw
// syscalls (no libc), so this checks the sandbox, not glibc's behaviour.
package main

import (
	"fmt"
	"net"
	"syscall"
	"time"
)

func main() {
	type result struct {
		name    string
		blocked bool
		detail  string
	}
	var results []result
	add := func(name string, err error, ok string) {
		if err != nil {
			results = append(results, result{name, true, err.Error()})
		} else {
			results = append(results, result{name, false, ok})
		}
	}
	c, err := net.DialTimeout("tcp4", "1.1.1.1:80", 3*time.Second)
	if c != nil {
		c.Close()
	}
	add("tcp4_connect_1.1.1.1:80", err, "connected")
	c, err = net.DialTimeout("tcp6", "[2606:4700:4700::1111]:80", 3*time.Second)
	if c != nil {
		c.Close()
	}
	add("tcp6_connect", err, "connected")
	u, err := net.Dial("udp4", "8.8.8.8:53")
	if err == nil {
		_, err = u.Write(make([]byte, 32))
		u.Close()
	}
	add("udp4_send_8.8.8.8:53", err, "sent")
	addrs, err := net.LookupHost("example.com")
	if err == nil && len(addrs) == 0 {
		// Go 1.19 with "hosts: files" answers an unknown name with no
		// addresses and no error: nothing was resolved.
		err = fmt.Errorf("no addresses")
	}
	add("dns_example.com", err, fmt.Sprint(addrs))
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP)
	if err == nil {
		syscall.Close(fd)
	}
	add("raw_icmp_socket", err, "opened")
	fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300)
	if err == nil {
		syscall.Close(fd)
	}
	add("af_packet_socket", err, "opened")
	ifs, err := net.Interfaces()
	names := []string{}
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	if err == nil && !(len(names) == 1 && names[0] == "lo") {
		add("non_lo_interfaces", nil, fmt.Sprint(names))
	} else {
		add("non_lo_interfaces", fmt.Errorf("only %v", names), "")
	}
	all := true
	for _, r := range results {
		state := "blocked"
		if !r.blocked {
			state = "OPEN"
			all = false
		}
		fmt.Printf("%s: %s (%s)\n", r.name, state, r.detail)
	}
	if all {
		fmt.Println("BLOCKED")
	} else {
		fmt.Println("ESCAPED")
	}
}
