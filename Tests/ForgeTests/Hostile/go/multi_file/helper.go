package main

const Constant = 42

func greet(name string) string {
	return "hello from helper, " + name
}
