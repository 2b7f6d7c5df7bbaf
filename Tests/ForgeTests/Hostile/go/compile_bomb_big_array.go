// Compile-time bomb: a 2 GiB array with a non-zero element must be emitted as
// initialised data, so the compiler/linker materialise it (memory or time).
package main

import "fmt"

var big = [1 << 31]byte{1, 2, 3, (1 << 31) - 1: 4}

func main() {
	fmt.Println(len(big), big[0])
}
