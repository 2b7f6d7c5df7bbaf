// One ever-growing file in /box. Go ignores SIGXFSZ, so RLIMIT_FSIZE shows up
// as EFBIG from write(); the tmpfs cap as ENOSPC. Reports and exits 1.
package main

import (
	"fmt"
	"os"
)

func main() {
	f, err := os.Create("/box/fill.bin")
	if err != nil {
		panic(err)
	}
	chunk := make([]byte, 1<<20)
	written := 0
	for written < 1<<30 {
		n, err := f.Write(chunk)
		written += n
		if err != nil {
			fmt.Printf("DISK_FULL dir=/box err=%v after=%d MiB\n", err, written>>20)
			os.Exit(1)
		}
	}
	fmt.Println("ESCAPED: wrote 1 GiB")
}
