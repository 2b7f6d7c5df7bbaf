// Compile-time bomb: every generic level instantiates the next level twice
// with two new, bigger type arguments, so the compiler must create 2^40
// distinct instantiations (with ever longer type names); only the compile
// limits can stop it.
package main

import "fmt"

type P[A, B any] struct {
	a A
	b B
}

func f0[T any](x T) int {
	return f1[P[T, int]](P[T, int]{a: x}) + f1[P[string, T]](P[string, T]{b: x})
}

func f1[T any](x T) int {
	return f2[P[T, int]](P[T, int]{a: x}) + f2[P[string, T]](P[string, T]{b: x})
}

func f2[T any](x T) int {
	return f3[P[T, int]](P[T, int]{a: x}) + f3[P[string, T]](P[string, T]{b: x})
}

func f3[T any](x T) int {
	return f4[P[T, int]](P[T, int]{a: x}) + f4[P[string, T]](P[string, T]{b: x})
}

func f4[T any](x T) int {
	return f5[P[T, int]](P[T, int]{a: x}) + f5[P[string, T]](P[string, T]{b: x})
}

func f5[T any](x T) int {
	return f6[P[T, int]](P[T, int]{a: x}) + f6[P[string, T]](P[string, T]{b: x})
}

func f6[T any](x T) int {
	return f7[P[T, int]](P[T, int]{a: x}) + f7[P[string, T]](P[string, T]{b: x})
}

func f7[T any](x T) int {
	return f8[P[T, int]](P[T, int]{a: x}) + f8[P[string, T]](P[string, T]{b: x})
}

func f8[T any](x T) int {
	return f9[P[T, int]](P[T, int]{a: x}) + f9[P[string, T]](P[string, T]{b: x})
}

func f9[T any](x T) int {
	return f10[P[T, int]](P[T, int]{a: x}) + f10[P[string, T]](P[string, T]{b: x})
}

func f10[T any](x T) int {
	return f11[P[T, int]](P[T, int]{a: x}) + f11[P[string, T]](P[string, T]{b: x})
}

func f11[T any](x T) int {
	return f12[P[T, int]](P[T, int]{a: x}) + f12[P[string, T]](P[string, T]{b: x})
}

func f12[T any](x T) int {
	return f13[P[T, int]](P[T, int]{a: x}) + f13[P[string, T]](P[string, T]{b: x})
}

func f13[T any](x T) int {
	return f14[P[T, int]](P[T, int]{a: x}) + f14[P[string, T]](P[string, T]{b: x})
}

func f14[T any](x T) int {
	return f15[P[T, int]](P[T, int]{a: x}) + f15[P[string, T]](P[string, T]{b: x})
}

func f15[T any](x T) int {
	return f16[P[T, int]](P[T, int]{a: x}) + f16[P[string, T]](P[string, T]{b: x})
}

func f16[T any](x T) int {
	return f17[P[T, int]](P[T, int]{a: x}) + f17[P[string, T]](P[string, T]{b: x})
}

func f17[T any](x T) int {
	return f18[P[T, int]](P[T, int]{a: x}) + f18[P[string, T]](P[string, T]{b: x})
}

func f18[T any](x T) int {
	return f19[P[T, int]](P[T, int]{a: x}) + f19[P[string, T]](P[string, T]{b: x})
}

func f19[T any](x T) int {
	return f20[P[T, int]](P[T, int]{a: x}) + f20[P[string, T]](P[string, T]{b: x})
}

func f20[T any](x T) int {
	return f21[P[T, int]](P[T, int]{a: x}) + f21[P[string, T]](P[string, T]{b: x})
}

func f21[T any](x T) int {
	return f22[P[T, int]](P[T, int]{a: x}) + f22[P[string, T]](P[string, T]{b: x})
}

func f22[T any](x T) int {
	return f23[P[T, int]](P[T, int]{a: x}) + f23[P[string, T]](P[string, T]{b: x})
}

func f23[T any](x T) int {
	return f24[P[T, int]](P[T, int]{a: x}) + f24[P[string, T]](P[string, T]{b: x})
}

func f24[T any](x T) int {
	return f25[P[T, int]](P[T, int]{a: x}) + f25[P[string, T]](P[string, T]{b: x})
}

func f25[T any](x T) int {
	return f26[P[T, int]](P[T, int]{a: x}) + f26[P[string, T]](P[string, T]{b: x})
}

func f26[T any](x T) int {
	return f27[P[T, int]](P[T, int]{a: x}) + f27[P[string, T]](P[string, T]{b: x})
}

func f27[T any](x T) int {
	return f28[P[T, int]](P[T, int]{a: x}) + f28[P[string, T]](P[string, T]{b: x})
}

func f28[T any](x T) int {
	return f29[P[T, int]](P[T, int]{a: x}) + f29[P[string, T]](P[string, T]{b: x})
}

func f29[T any](x T) int {
	return f30[P[T, int]](P[T, int]{a: x}) + f30[P[string, T]](P[string, T]{b: x})
}

func f30[T any](x T) int {
	return f31[P[T, int]](P[T, int]{a: x}) + f31[P[string, T]](P[string, T]{b: x})
}

func f31[T any](x T) int {
	return f32[P[T, int]](P[T, int]{a: x}) + f32[P[string, T]](P[string, T]{b: x})
}

func f32[T any](x T) int {
	return f33[P[T, int]](P[T, int]{a: x}) + f33[P[string, T]](P[string, T]{b: x})
}

func f33[T any](x T) int {
	return f34[P[T, int]](P[T, int]{a: x}) + f34[P[string, T]](P[string, T]{b: x})
}

func f34[T any](x T) int {
	return f35[P[T, int]](P[T, int]{a: x}) + f35[P[string, T]](P[string, T]{b: x})
}

func f35[T any](x T) int {
	return f36[P[T, int]](P[T, int]{a: x}) + f36[P[string, T]](P[string, T]{b: x})
}

func f36[T any](x T) int {
	return f37[P[T, int]](P[T, int]{a: x}) + f37[P[string, T]](P[string, T]{b: x})
}

func f37[T any](x T) int {
	return f38[P[T, int]](P[T, int]{a: x}) + f38[P[string, T]](P[string, T]{b: x})
}

func f38[T any](x T) int {
	return f39[P[T, int]](P[T, int]{a: x}) + f39[P[string, T]](P[string, T]{b: x})
}

func f39[T any](x T) int {
	return f40[P[T, int]](P[T, int]{a: x}) + f40[P[string, T]](P[string, T]{b: x})
}

func f40[T any](x T) int { return 1 }

func main() {
	fmt.Println("ESCAPED:", f0[int](0))
}
