package data

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// OpenOptions shape what Open hands out.
type OpenOptions struct {
	Size     int  // square side for image folders (IDX and CIFAR keep their own)
	Channels int  // 1 or 3; 0 keeps the data set's own
	Train    bool // folders: random crop and flip (else resize and centre crop)
	SkipBad  bool // folders: skip undecodable files (listed by Skipped) instead of failing
	Seed     uint64
}

// Open opens a data set from a command-line description:
//
//	"" or "fashion-mnist"           the bundled Fashion-MNIST test split
//	DIR                             ImageNet-style class folders (or, with no
//	                                subfolders, a flat folder of images)
//	FILE.bin[,FILE.bin...]          CIFAR-10 binary batches
//	IMAGES-idx3[.gz],LABELS-idx1[.gz]  an IDX image/label pair (MNIST-like)
func Open(spec string, o OpenOptions) (Dataset, error) {
	var ds Dataset
	switch {
	case spec == "" || strings.EqualFold(spec, "fashion-mnist"):
		d, err := FashionMNIST()
		if err != nil {
			return nil, err
		}
		ds = d
	case isDirectory(spec):
		f, err := OpenFolder(spec, FolderOptions{Size: o.Size, Channels: o.Channels, Train: o.Train, SkipBad: o.SkipBad, Seed: o.Seed, Flat: !hasSubdirs(spec)})
		if err != nil {
			return nil, err
		}
		if n := len(f.Skipped()); n > 0 {
			fmt.Fprintf(os.Stderr, "data: skipped %d unreadable files in %s\n", n, spec)
		}
		return f, nil
	case strings.HasSuffix(strings.Split(spec, ",")[0], ".bin"):
		c, err := OpenCIFAR10(strings.Split(spec, ",")...)
		if err != nil {
			return nil, err
		}
		ds = c
	case strings.Count(spec, ",") == 1:
		parts := strings.Split(spec, ",")
		img, err := os.Open(parts[0])
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		defer img.Close()
		lab, err := os.Open(parts[1])
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		defer lab.Close()
		d, err := LoadIDX(img, lab)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", spec, err)
		}
		ds = d
	default:
		return nil, fmt.Errorf("data: cannot open %q: give fashion-mnist, an image folder, CIFAR-10 .bin files, or IMAGES,LABELS IDX files", spec)
	}
	if o.Channels != 0 {
		return WithChannels(ds, o.Channels)
	}
	return ds, nil
}

func isDirectory(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func hasSubdirs(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			return true
		}
		if e.Type()&os.ModeSymlink != 0 && isDirectory(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}

// WithChannels returns ds fed as c channels: grayscale replicated to RGB,
// RGB reduced to ITU-R BT.601 luma; ds itself when it already has c.
func WithChannels(ds Dataset, c int) (Dataset, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("data: %d channels requested, need 1 or 3", c)
	}
	have, _, _ := ds.Shape()
	if have == c {
		return ds, nil
	}
	if have != 1 && have != 3 {
		return nil, fmt.Errorf("data: cannot convert %d channels to %d", have, c)
	}
	return &convertView{ds: ds, c: c}, nil
}

type convertView struct {
	ds Dataset
	c  int
}

func (v *convertView) Len() int          { return v.ds.Len() }
func (v *convertView) Classes() []string { return v.ds.Classes() }
func (v *convertView) Shape() (c, h, w int) {
	_, h, w = v.ds.Shape()
	return v.c, h, w
}

func (v *convertView) Get(i int) ([]float32, int, error) {
	img, label, err := v.ds.Get(i)
	if err != nil {
		return nil, 0, err
	}
	_, h, w := v.ds.Shape()
	n := h * w
	out := make([]float32, v.c*n)
	if v.c == 3 {
		for ch := 0; ch < 3; ch++ {
			copy(out[ch*n:(ch+1)*n], img[:n])
		}
	} else {
		for p := 0; p < n; p++ {
			out[p] = 0.299*img[p] + 0.587*img[n+p] + 0.114*img[2*n+p]
		}
	}
	return out, label, nil
}

// Range returns images [lo, hi) of ds as a data set (train/held-out splits
// of any data set).
func Range(ds Dataset, lo, hi int) (Dataset, error) {
	if lo < 0 || hi > ds.Len() || lo > hi {
		return nil, fmt.Errorf("data: range [%d, %d) of a data set of %d images", lo, hi, ds.Len())
	}
	return &rangeView{ds: ds, lo: lo, n: hi - lo}, nil
}

type rangeView struct {
	ds    Dataset
	lo, n int
}

func (r *rangeView) Len() int                          { return r.n }
func (r *rangeView) Classes() []string                 { return r.ds.Classes() }
func (r *rangeView) Shape() (c, h, w int)              { return r.ds.Shape() }
func (r *rangeView) Get(i int) ([]float32, int, error) { return r.ds.Get(r.lo + i) }

// FillRand keeps the underlying data set's random crops (and falls back
// to Get for data sets without them).
func (r *rangeView) FillRand(i int, dst []float32, rng *rand.Rand) (int, error) {
	if f, ok := r.ds.(RandomFiller); ok {
		return f.FillRand(r.lo+i, dst, rng)
	}
	img, label, err := r.ds.Get(r.lo + i)
	if err != nil {
		return 0, err
	}
	copy(dst, img)
	return label, nil
}
