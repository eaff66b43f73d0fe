package data

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Pinned facts about the bundled test split, computed once with Python from
// the IDX files of Debian's dataset-fashion-mnist package:
//
//	d = gzip.open("t10k-images-idx3-ubyte.gz").read()[16:]
//	l = gzip.open("t10k-labels-idx1-ubyte.gz").read()[8:]
//	l[0], sum(d[:784]), hashlib.sha256(d[:784]).hexdigest()
//	l[-1], sum(d[-784:])
const (
	fashionFirstLabel     = 9 // "Ankle boot"
	fashionFirstPixelSum  = 33456
	fashionFirstPixelHash = "ffc7351ed0f8bae542820866086177fa4e0b366b97bf9d998dffdb8dbe138787"
	fashionLastLabel      = 5 // "Sandal"
	fashionLastPixelSum   = 24390
)

// unpixel inverts the v/255*2-1 pixel mapping.
func unpixel(t *testing.T, img []float32) []byte {
	t.Helper()
	out := make([]byte, len(img))
	for i, v := range img {
		f := (float64(v) + 1) / 2 * 255
		r := math.Round(f)
		require.InDelta(t, r, f, 1e-3, "pixel %d = %v is not a mapped byte", i, v)
		out[i] = byte(r)
	}
	return out
}

func TestFashionMNIST(t *testing.T) {
	d, err := FashionMNIST()
	require.NoError(t, err)

	assert.Equal(t, FashionMNISTLen, d.Len())
	c, h, w := d.Shape()
	assert.Equal(t, []int{1, 28, 28}, []int{c, h, w})
	assert.Equal(t, []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}, d.Classes())

	counts := make([]int, 10)
	for _, l := range d.Labels() {
		require.True(t, l >= 0 && l < 10, "label %d", l)
		counts[l]++
	}
	assert.Equal(t, []int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, counts)

	tests := []struct {
		name      string
		index     int
		label     int
		className string
		sum       int
		hash      string
	}{
		{"first", 0, fashionFirstLabel, "Ankle boot", fashionFirstPixelSum, fashionFirstPixelHash},
		{"last", FashionMNISTLen - 1, fashionLastLabel, "Sandal", fashionLastPixelSum, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, label, err := d.Get(tt.index)
			require.NoError(t, err)
			assert.Equal(t, tt.label, label)
			assert.Equal(t, tt.className, d.Classes()[label])
			require.Len(t, img, 784)
			raw := unpixel(t, img)
			sum := 0
			for _, v := range raw {
				sum += int(v)
			}
			assert.Equal(t, tt.sum, sum)
			if tt.hash != "" {
				h := sha256.Sum256(raw)
				assert.Equal(t, tt.hash, hex.EncodeToString(h[:]))
			}
			for _, v := range img {
				require.True(t, v >= -1 && v <= 1, "pixel %v outside [-1, 1]", v)
			}
		})
	}
}

func TestFashionMNISTSplit(t *testing.T) {
	d, err := FashionMNIST()
	require.NoError(t, err)
	train, held := d.Split(8000)
	assert.Equal(t, 8000, train.Len())
	assert.Equal(t, 2000, held.Len())
	assert.Equal(t, d.Classes(), held.Classes())
	_, label, err := train.Get(0)
	require.NoError(t, err)
	assert.Equal(t, fashionFirstLabel, label)
	_, label, err = held.Get(1999)
	require.NoError(t, err)
	assert.Equal(t, fashionLastLabel, label)
}

func TestFashionMNISTFreshEachCall(t *testing.T) {
	a, err := FashionMNIST()
	require.NoError(t, err)
	b, err := FashionMNIST()
	require.NoError(t, err)
	assert.NotSame(t, a, b)
	assert.NotSame(t, &a.pixels[0], &b.pixels[0], "no cache shared between calls")
}
