package ref

import "math/rand/v2"

// Rand returns a tensor of the given shape filled with values uniform in
// [-1, 1), drawn from a PCG generator seeded with seed. The same seed always
// gives the same values, so GPU tests can build reproducible inputs.
func Rand(seed uint64, shape ...int) *Tensor {
	r := rand.New(rand.NewPCG(seed, 0))
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = 2*r.Float64() - 1
	}
	return t
}

// Randn returns a tensor of the given shape filled with standard normal
// values drawn from a PCG generator seeded with seed.
func Randn(seed uint64, shape ...int) *Tensor {
	r := rand.New(rand.NewPCG(seed, 0))
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = r.NormFloat64()
	}
	return t
}
