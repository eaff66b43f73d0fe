package data

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenSpecs(t *testing.T) {
	ds, err := Open("", OpenOptions{Channels: 3})
	require.NoError(t, err)
	c, h, w := ds.Shape()
	assert.Equal(t, []int{3, 28, 28}, []int{c, h, w})
	img, label, err := ds.Get(0)
	require.NoError(t, err)
	assert.Equal(t, 9, label)
	assert.Equal(t, img[:784], img[784:1568], "grayscale replicated into every channel")

	dir := t.TempDir()
	for i, name := range []string{"a.png", "b.png"} {
		m := image.NewRGBA(image.Rect(0, 0, 8, 8))
		for p := range m.Pix {
			m.Pix[p] = uint8(40 * (i + 1))
		}
		f, err := os.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, m))
		require.NoError(t, f.Close())
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.png"), []byte("not a png"), 0o644))
	_, err = Open(dir, OpenOptions{Size: 8})
	require.ErrorContains(t, err, "c.png", "a corrupt file is an error naming it")
	ds, err = Open(dir, OpenOptions{Size: 8, Channels: 1, SkipBad: true})
	require.NoError(t, err)
	assert.Equal(t, 2, ds.Len())

	_, err = Open(filepath.Join(dir, "nope"), OpenOptions{})
	require.ErrorContains(t, err, "cannot open")
	_, err = Open("", OpenOptions{Channels: 2})
	require.Error(t, err)
}

func TestRangeAndChannels(t *testing.T) {
	ds, err := Open("fashion-mnist", OpenOptions{})
	require.NoError(t, err)
	held, err := Range(ds, 9990, 10000)
	require.NoError(t, err)
	assert.Equal(t, 10, held.Len())
	a, la, err := held.Get(3)
	require.NoError(t, err)
	b, lb, err := ds.Get(9993)
	require.NoError(t, err)
	assert.Equal(t, b, a)
	assert.Equal(t, lb, la)
	_, err = Range(ds, 5, 3)
	require.Error(t, err)

	rgb, err := WithChannels(ds, 3)
	require.NoError(t, err)
	gray, err := WithChannels(rgb, 1)
	require.NoError(t, err)
	g, _, err := gray.Get(0)
	require.NoError(t, err)
	orig, _, err := ds.Get(0)
	require.NoError(t, err)
	for i := range g {
		assert.InDelta(t, orig[i], g[i], 1e-5, "luma of a replicated gray image is the gray value")
	}
}
