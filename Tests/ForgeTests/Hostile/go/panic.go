package main

import "fmt"

func main() {
	fmt.Println("before")
	var m map[string]int
	m["boom"] = 1 // assignment to entry in nil map -> panic, exit status 2
}
