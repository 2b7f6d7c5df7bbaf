package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("exiting with 0")
	os.Exit(0)
}
