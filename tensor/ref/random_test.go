package ref

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRandDeterministic(t *testing.T) {
	a, b, c := Rand(42, 3, 5), Rand(42, 3, 5), Rand(43, 3, 5)
	require.Equal(t, []int{3, 5}, a.Shape)
	assert.Equal(t, a.Data, b.Data, "same seed, same values")
	assert.NotEqual(t, a.Data, c.Data, "different seed, different values")
	for _, v := range a.Data {
		assert.True(t, v >= -1 && v < 1, "%v outside [-1, 1)", v)
	}

	n := Randn(1, 10000)
	assert.Equal(t, n.Data, Randn(1, 10000).Data)
	m := MeanAll(n).Data[0]
	sd := math.Sqrt(MeanAll(Square(AddScalar(n, -m))).Data[0])
	assert.InDelta(t, 0, m, 0.05)
	assert.InDelta(t, 1, sd, 0.05)
}
