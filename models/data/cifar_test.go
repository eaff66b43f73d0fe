package data

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cifarRecords returns n CIFAR-10 records: record k (counting from first)
// has label labelOf(k) and pixel j = byte(k*7 + j).
func cifarRecords(first, n int, labelOf func(k int) byte) []byte {
	out := make([]byte, 0, n*CIFARRecordSize)
	for k := first; k < first+n; k++ {
		out = append(out, labelOf(k))
		for j := range cifarPixels {
			out = append(out, byte(k*7+j))
		}
	}
	return out
}

// cifarLabel is the label the tests give record k.
func cifarLabel(k int) byte { return byte(k % 10) }

func TestOpenCIFAR10RoundTrip(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "data_batch_1.bin", cifarRecords(0, 3, cifarLabel))
	b := writeFile(t, dir, "data_batch_2.bin", cifarRecords(3, 2, cifarLabel))

	d, err := OpenCIFAR10(a, b)
	require.NoError(t, err)
	assert.Equal(t, 5, d.Len())
	c, h, w := d.Shape()
	assert.Equal(t, []int{3, 32, 32}, []int{c, h, w})
	assert.Equal(t, CIFAR10Classes(), d.Classes())
	assert.Equal(t, "airplane", d.Classes()[0])
	assert.Equal(t, "truck", d.Classes()[9])
	assert.Equal(t, []int{0, 1, 2, 3, 4}, d.Labels())
	for k := range 5 {
		img, label, err := d.Get(k)
		require.NoError(t, err)
		assert.Equal(t, k%10, label)
		require.Len(t, img, 3072)
		for _, j := range []int{0, 1, 1023, 1024, 2048, 3071} { // R, G and B planes
			assert.Equal(t, float32(byte(k*7+j))/255*2-1, img[j], "image %d value %d", k, j)
		}
	}

	first, rest := d.Split(2)
	assert.Equal(t, 2, first.Len())
	assert.Equal(t, []int{2, 3, 4}, rest.Labels())
	want, _, err := d.Get(3)
	require.NoError(t, err)
	got, _, err := rest.Get(1)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Panics(t, func() { d.Split(6) })

	n := 0
	for bt, err := range NewLoader(d, 2, LoaderOptions{Shuffle: true, Seed: 3}).Epoch(context.Background(), 0) {
		require.NoError(t, err)
		for k, idx := range bt.Indices {
			assert.Equal(t, int32(idx%10), bt.Labels[k])
		}
		n += bt.N
	}
	assert.Equal(t, 5, n)
}

func TestOpenCIFAR10Meta(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "test_batch.bin", cifarRecords(0, 4, func(k int) byte { return byte(k % 3) }))
	writeFile(t, dir, "batches.meta.txt", []byte("cat\r\ndog\n  bird  \n\n\n"))
	d, err := OpenCIFAR10(a)
	require.NoError(t, err)
	assert.Equal(t, []string{"cat", "dog", "bird"}, d.Classes())
}

func TestOpenCIFAR10Errors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good/data_batch_1.bin", cifarRecords(0, 2, cifarLabel))
	short := writeFile(t, dir, "short/data_batch_1.bin", cifarRecords(0, 2, cifarLabel)[:2*CIFARRecordSize-1])
	long := writeFile(t, dir, "long/data_batch_1.bin", append(cifarRecords(0, 1, cifarLabel), 0))
	empty := writeFile(t, dir, "empty/data_batch_1.bin", nil)
	badLabel := writeFile(t, dir, "label/test_batch.bin", cifarRecords(0, 3, func(k int) byte { return byte(10 * (k / 2)) }))
	meta1 := writeFile(t, dir, "m1/data_batch_1.bin", cifarRecords(0, 1, cifarLabel))
	writeFile(t, dir, "m1/batches.meta.txt", []byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"))
	meta2 := writeFile(t, dir, "m2/data_batch_1.bin", cifarRecords(0, 1, cifarLabel))
	writeFile(t, dir, "m2/batches.meta.txt", []byte("x\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"))
	blank := writeFile(t, dir, "blank/data_batch_1.bin", cifarRecords(0, 1, cifarLabel))
	writeFile(t, dir, "blank/batches.meta.txt", []byte("\n \n"))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "folder.bin"), 0o755))

	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"no files", nil, []string{"no files given"}},
		{"missing file", []string{good, filepath.Join(dir, "nope.bin")}, []string{"nope.bin"}},
		{"a folder", []string{filepath.Join(dir, "folder.bin")}, []string{"folder.bin", "not a regular file"}},
		{"one byte short", []string{good, short}, []string{short, "6145 bytes", "1 whole records and 3072 bytes over"}},
		{"one byte over", []string{long}, []string{long, "not a positive multiple of the 3073-byte record"}},
		{"empty", []string{empty}, []string{empty, "size 0"}},
		{"label out of range", []string{good, badLabel}, []string{badLabel, "record 2 has label 10", "10 classes"}},
		{"meta files disagree", []string{meta1, meta2}, []string{"list different classes"}},
		{"meta file without names", []string{blank}, []string{"batches.meta.txt: no class names"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := OpenCIFAR10(tc.paths...)
			require.Error(t, err)
			assert.Nil(t, d)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestCIFARFillErrors(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenCIFAR10(writeFile(t, dir, "b.bin", cifarRecords(0, 1, cifarLabel)))
	require.NoError(t, err)
	tests := []struct {
		name string
		i    int
		n    int
		want string
	}{
		{"negative index", -1, 3072, "out of range"},
		{"index too large", 1, 3072, "out of range"},
		{"short buffer", 0, 3071, "buffer holds 3071 values, want 3072"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Fill(tc.i, make([]float32, tc.n))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
