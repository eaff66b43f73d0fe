package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CIFAR-10 binary record layout: one label byte, then a 32×32 image as
// three 1024-byte planes, red, green, blue, each row-major.
const (
	cifarSide   = 32
	cifarPixels = 3 * cifarSide * cifarSide // 3072
	// CIFARRecordSize is the size in bytes of one CIFAR-10 binary record.
	CIFARRecordSize = 1 + cifarPixels // 3073
)

// cifarMetaFile names the class list that the CIFAR-10 binary distribution
// keeps next to its batches, one name a line.
const cifarMetaFile = "batches.meta.txt"

// CIFAR10Classes returns the ten standard CIFAR-10 class names, index =
// label.
func CIFAR10Classes() []string {
	return []string{
		"airplane", "automobile", "bird", "cat", "deer",
		"dog", "frog", "horse", "ship", "truck",
	}
}

// CIFAR is a data set of 3×32×32 colour images in the CIFAR-10 binary
// format. Like MNISTLike it keeps the raw bytes and converts an image to
// float32 only when asked, mapping a byte v to v/255*2-1. It is read-only
// and safe for concurrent use.
type CIFAR struct {
	pixels  []byte  // len(labels)*3072 bytes, CHW, image after image
	labels  []uint8 // one per image
	classes []string
}

var (
	_ Dataset = (*CIFAR)(nil)
	_ Filler  = (*CIFAR)(nil)
)

// OpenCIFAR10 reads CIFAR-10 binary batch files (data_batch_1.bin …
// data_batch_5.bin, test_batch.bin), concatenating their records in the
// order given. Every file must hold a whole, non-zero number of 3073-byte
// records. The class names come from batches.meta.txt in the folder of the
// files if there is one (non-empty lines, trimmed; every folder that has
// one must agree), else CIFAR10Classes. Every label must index a class.
func OpenCIFAR10(paths ...string) (*CIFAR, error) {
	if len(paths) == 0 {
		return nil, errors.New("data: OpenCIFAR10: no files given")
	}
	sizes := make([]int64, len(paths))
	var total int64
	for k, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("data: OpenCIFAR10: %w", err)
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("data: OpenCIFAR10: %s is not a regular file", p)
		}
		n := info.Size()
		if n == 0 || n%CIFARRecordSize != 0 {
			return nil, fmt.Errorf("data: OpenCIFAR10: %s: size %d bytes is not a positive multiple of the %d-byte record (%d whole records and %d bytes over)",
				p, n, CIFARRecordSize, n/CIFARRecordSize, n%CIFARRecordSize)
		}
		sizes[k] = n
		total += n
	}
	records := int(total / CIFARRecordSize)
	d := &CIFAR{pixels: make([]byte, records*cifarPixels), labels: make([]uint8, records)}
	rec := 0
	for k, p := range paths {
		n, err := readCIFARFile(p, sizes[k], d.pixels[rec*cifarPixels:], d.labels[rec:])
		if err != nil {
			return nil, fmt.Errorf("data: OpenCIFAR10: %w", err)
		}
		rec += n
	}

	classes, err := cifarClasses(paths)
	if err != nil {
		return nil, fmt.Errorf("data: OpenCIFAR10: %w", err)
	}
	d.classes = classes
	rec = 0
	for k, p := range paths {
		n := int(sizes[k] / CIFARRecordSize)
		for j, l := range d.labels[rec : rec+n] {
			if int(l) >= len(classes) {
				return nil, fmt.Errorf("data: OpenCIFAR10: %s: record %d has label %d, but there are %d classes", p, j, l, len(classes))
			}
		}
		rec += n
	}
	return d, nil
}

// readCIFARFile reads the size/3073 records of one file into pixels and
// labels and returns how many it read.
func readCIFARFile(path string, size int64, pixels, labels []byte) (int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	n := int(size / CIFARRecordSize)
	buf := make([]byte, 64*CIFARRecordSize)
	for done := 0; done < n; {
		m := min(n-done, 64)
		if _, err := io.ReadFull(fh, buf[:m*CIFARRecordSize]); err != nil {
			return 0, fmt.Errorf("%s: reading record %d of %d: %w", path, done, n, err)
		}
		for j := range m {
			r := buf[j*CIFARRecordSize : (j+1)*CIFARRecordSize]
			labels[done+j] = r[0]
			copy(pixels[(done+j)*cifarPixels:], r[1:])
		}
		done += m
	}
	if k, _ := fh.Read(buf[:1]); k != 0 {
		return 0, fmt.Errorf("%s: the file grew while it was read", path)
	}
	return n, nil
}

// cifarClasses reads batches.meta.txt from the folders of paths, falling
// back to the standard names.
func cifarClasses(paths []string) ([]string, error) {
	var (
		names []string
		from  string
	)
	seen := map[string]bool{}
	for _, p := range paths {
		dir := filepath.Dir(p)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		meta := filepath.Join(dir, cifarMetaFile)
		raw, err := os.ReadFile(meta)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var got []string
		for line := range strings.Lines(string(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))) {
			if s := strings.TrimSpace(line); s != "" {
				got = append(got, s)
			}
		}
		if len(got) == 0 {
			return nil, fmt.Errorf("%s: no class names", meta)
		}
		if names != nil && !slices.Equal(names, got) {
			return nil, fmt.Errorf("%s and %s list different classes", from, meta)
		}
		names, from = got, meta
	}
	if names == nil {
		return CIFAR10Classes(), nil
	}
	return names, nil
}

// Len returns the number of images.
func (d *CIFAR) Len() int { return len(d.labels) }

// Shape returns 3, 32, 32.
func (d *CIFAR) Shape() (c, h, w int) { return 3, cifarSide, cifarSide }

// Classes returns the class names, index = label. The slice is shared: do
// not modify it.
func (d *CIFAR) Classes() []string { return d.classes }

// Labels returns a copy of every image's label, in order, without decoding
// any pixels.
func (d *CIFAR) Labels() []int {
	out := make([]int, len(d.labels))
	for i, l := range d.labels {
		out[i] = int(l)
	}
	return out
}

// Get returns image i as 3×32×32 float32 values in [-1, 1] and its label.
func (d *CIFAR) Get(i int) (img []float32, label int, err error) {
	img = make([]float32, cifarPixels)
	label, err = d.Fill(i, img)
	if err != nil {
		return nil, 0, err
	}
	return img, label, nil
}

// Fill decodes image i into dst, which must hold exactly 3*32*32 values,
// and returns its label.
func (d *CIFAR) Fill(i int, dst []float32) (label int, err error) {
	if i < 0 || i >= len(d.labels) {
		return 0, fmt.Errorf("data: CIFAR image index %d out of range [0, %d)", i, len(d.labels))
	}
	if len(dst) != cifarPixels {
		return 0, fmt.Errorf("data: CIFAR image %d: buffer holds %d values, want %d", i, len(dst), cifarPixels)
	}
	for j, v := range d.pixels[i*cifarPixels : (i+1)*cifarPixels] {
		dst[j] = float32(v)/255*2 - 1
	}
	return int(d.labels[i]), nil
}

// Split returns the first n images and the remaining Len()-n as two data
// sets that share d's memory, without shuffling. It panics if n is outside
// [0, Len()].
func (d *CIFAR) Split(n int) (first, rest *CIFAR) {
	if n < 0 || n > len(d.labels) {
		panic(fmt.Sprintf("data: Split(%d) of a data set of %d images", n, len(d.labels)))
	}
	a, b := *d, *d
	a.pixels, a.labels = d.pixels[:n*cifarPixels:n*cifarPixels], d.labels[:n:n]
	b.pixels, b.labels = d.pixels[n*cifarPixels:], d.labels[n:]
	return &a, &b
}
