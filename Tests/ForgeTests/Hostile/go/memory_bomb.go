// Allocate and touch 64 MiB slices until the memory cgroup kills us.
package main

import "fmt"

func main() {
	var keep [][]byte
	for i := 0; i < 64; i++ {
		b := make([]byte, 64<<20)
		for j := range b {
			b[j] = byte(j)
		}
		keep = append(keep, b)
	}
	fmt.Println("ESCAPED: holding", len(keep)*64, "MiB")
}
