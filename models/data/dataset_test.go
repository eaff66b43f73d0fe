package data

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallMNIST builds an MNIST-like data set of n images of h×w pixels, where
// pixel j of image i is byte(i*31+j) and the label of image i is i%10.
func smallMNIST(t testing.TB, n, h, w int) *MNISTLike {
	t.Helper()
	pix := make([]byte, n*h*w)
	for i := range n {
		for j := range h * w {
			pix[i*h*w+j] = byte(i*31 + j)
		}
	}
	lab := make([]byte, n)
	for i := range lab {
		lab[i] = byte(i % 10)
	}
	d, err := LoadIDX(
		bytes.NewReader(rawIDX(TypeUint8, []uint32{uint32(n), uint32(h), uint32(w)}, pix)),
		bytes.NewReader(gzipped(t, rawIDX(TypeUint8, []uint32{uint32(n)}, lab))))
	require.NoError(t, err)
	return d
}

// pixel maps a byte as the data sets do.
func pixel(v byte) float32 { return float32(v)/255*2 - 1 }

func TestLoadIDX(t *testing.T) {
	d := smallMNIST(t, 12, 3, 2)
	assert.Equal(t, 12, d.Len())
	c, h, w := d.Shape()
	assert.Equal(t, []int{1, 3, 2}, []int{c, h, w})
	assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, d.Classes())
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}, d.Labels())

	for _, i := range []int{0, 5, 11} {
		img, label, err := d.Get(i)
		require.NoError(t, err)
		assert.Equal(t, i%10, label)
		require.Len(t, img, 6)
		for j, v := range img {
			assert.Equal(t, pixel(byte(i*31+j)), v, "image %d pixel %d", i, j)
		}
	}
}

func TestPixelRange(t *testing.T) {
	tests := []struct {
		in   byte
		want float32
	}{
		{0, -1},
		{255, 1},
		{51, -0.6},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			d, err := LoadIDX(
				bytes.NewReader(rawIDX(TypeUint8, []uint32{1, 1, 1}, []byte{tt.in})),
				bytes.NewReader(rawIDX(TypeUint8, []uint32{1}, []byte{0})))
			require.NoError(t, err)
			img, _, err := d.Get(0)
			require.NoError(t, err)
			assert.InDelta(t, tt.want, img[0], 1e-6)
			assert.GreaterOrEqual(t, img[0], float32(-1))
			assert.LessOrEqual(t, img[0], float32(1))
		})
	}
}

func TestLoadIDXClassesFromLabels(t *testing.T) {
	d, err := LoadIDX(
		bytes.NewReader(rawIDX(TypeUint8, []uint32{2, 1, 1}, []byte{0, 0})),
		bytes.NewReader(rawIDX(TypeUint8, []uint32{2}, []byte{3, 25})))
	require.NoError(t, err)
	assert.Len(t, d.Classes(), 26)
	assert.Equal(t, "25", d.Classes()[25])
}

func TestLoadIDXErrors(t *testing.T) {
	images := rawIDX(TypeUint8, []uint32{2, 2, 2}, make([]byte, 8))
	labels := rawIDX(TypeUint8, []uint32{2}, []byte{1, 2})
	tests := []struct {
		name           string
		images, labels []byte
		wantErr        string
	}{
		{"count mismatch", images, rawIDX(TypeUint8, []uint32{3}, []byte{1, 2, 3}), "2 images but 3 labels"},
		{"images rank 2", rawIDX(TypeUint8, []uint32{2, 4}, make([]byte, 8)), labels, "images must be [N, H, W] uint8, got [2 4] uint8"},
		{"images not bytes", rawIDX(TypeFloat32, []uint32{1, 1, 1}, make([]byte, 4)), labels, "got [1 1 1] float32"},
		{"labels rank 2", images, rawIDX(TypeUint8, []uint32{2, 1}, []byte{1, 2}), "labels must be [N] uint8"},
		{"labels not bytes", images, rawIDX(TypeInt16, []uint32{2}, make([]byte, 4)), "labels must be [N] uint8, got [2] int16"},
		{"empty images", rawIDX(TypeUint8, []uint32{2, 0, 3}, nil), labels, "empty 0×3 images"},
		{"broken images", images[:10], labels, "LoadIDX images: data: IDX: truncated"},
		{"broken labels", images, labels[:3], "LoadIDX labels: data: IDX: truncated magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := LoadIDX(bytes.NewReader(tt.images), bytes.NewReader(tt.labels))
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), "data: LoadIDX")
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestGetErrors(t *testing.T) {
	d := smallMNIST(t, 4, 2, 2)
	tests := []struct {
		name string
		ds   Dataset
		i    int
		want string
	}{
		{"negative", d, -1, "image index -1 out of range [0, 4)"},
		{"past the end", d, 4, "image index 4 out of range [0, 4)"},
		{"channels view", d.Channels(3), 7, "image index 7 out of range [0, 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, _, err := tt.ds.Get(tt.i)
			require.Error(t, err)
			assert.Nil(t, img)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestFillBufferSize(t *testing.T) {
	d := smallMNIST(t, 4, 2, 2)
	_, err := d.Fill(0, make([]float32, 3))
	assert.ErrorContains(t, err, "buffer holds 3 values, want 4")
	_, err = d.Channels(3).(Filler).Fill(0, make([]float32, 4))
	assert.ErrorContains(t, err, "buffer holds 4 values, want 12")
}

func TestWithClasses(t *testing.T) {
	d := smallMNIST(t, 10, 1, 1)
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	named, err := d.WithClasses(names)
	require.NoError(t, err)
	assert.Equal(t, names, named.Classes())
	names[0] = "changed"
	assert.Equal(t, "a", named.Classes()[0], "WithClasses must copy the names")
	assert.Equal(t, "0", d.Classes()[0], "WithClasses must not change the original")

	_, err = d.WithClasses(names[:9])
	assert.ErrorContains(t, err, "image 9 has label 9, but only 9 class names were given")
}

func TestSplit(t *testing.T) {
	d := smallMNIST(t, 10, 2, 3)
	tests := []struct {
		n, first, rest int
	}{
		{0, 0, 10},
		{3, 3, 7},
		{8, 8, 2},
		{10, 10, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			first, rest := d.Split(tt.n)
			assert.Equal(t, tt.first, first.Len())
			assert.Equal(t, tt.rest, rest.Len())
			assert.Equal(t, d.Classes(), first.Classes())
			assert.Equal(t, d.Classes(), rest.Classes())
			for i := range d.Len() {
				want, wantLabel, err := d.Get(i)
				require.NoError(t, err)
				part, j := first, i
				if i >= tt.n {
					part, j = rest, i-tt.n
				}
				got, label, err := part.Get(j)
				require.NoError(t, err)
				assert.Equal(t, want, got, "image %d", i)
				assert.Equal(t, wantLabel, label, "label %d", i)
			}
			_, _, err := first.Get(tt.first)
			assert.Error(t, err, "first half must end at n")
		})
	}
	assert.Panics(t, func() { d.Split(-1) })
	assert.Panics(t, func() { d.Split(11) })
}

func TestChannels(t *testing.T) {
	d := smallMNIST(t, 5, 3, 4)
	tests := []struct {
		c int
	}{{1}, {2}, {3}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.c), func(t *testing.T) {
			v := d.Channels(tt.c)
			c, h, w := v.Shape()
			assert.Equal(t, []int{tt.c, 3, 4}, []int{c, h, w})
			assert.Equal(t, d.Len(), v.Len())
			assert.Equal(t, d.Classes(), v.Classes())
			for i := range d.Len() {
				gray, wantLabel, err := d.Get(i)
				require.NoError(t, err)
				img, label, err := v.Get(i)
				require.NoError(t, err)
				assert.Equal(t, wantLabel, label)
				require.Len(t, img, tt.c*12)
				for ch := range tt.c {
					assert.Equal(t, gray, img[ch*12:(ch+1)*12], "image %d channel %d", i, ch)
				}
			}
		})
	}
	assert.Same(t, d, d.Channels(1))
	assert.Panics(t, func() { d.Channels(0) })
}

func TestConcurrentGet(t *testing.T) {
	d := smallMNIST(t, 50, 4, 4)
	v := d.Channels(3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range d.Len() {
				img, label, err := v.Get((i + g) % d.Len())
				assert.NoError(t, err)
				assert.Len(t, img, 48)
				assert.Equal(t, ((i+g)%d.Len())%10, label)
			}
		})
	}
	wg.Wait()
}
