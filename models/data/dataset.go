package data

import (
	"fmt"
	"io"
	"strconv"
)

// Dataset is an indexable image classification data set. Image datasets hand
// out float32 images in [-1, 1], laid out CHW, with int labels.
//
// Implementations must be safe for concurrent Get calls: the Loader decodes
// on several goroutines.
type Dataset interface {
	// Len returns the number of examples.
	Len() int
	// Shape returns the channels, height and width of every image.
	Shape() (c, h, w int)
	// Classes returns the class names; a label is an index into it.
	Classes() []string
	// Get returns example i: a freshly allocated CHW image of c*h*w values
	// and its label.
	Get(i int) (img []float32, label int, err error)
}

// Filler is implemented by datasets that can decode an image into a buffer
// the caller provides, sparing the allocation Get makes. The Loader uses it
// when a Dataset offers it.
type Filler interface {
	// Fill decodes image i into dst, which holds exactly c*h*w values, and
	// returns its label.
	Fill(i int, dst []float32) (label int, err error)
}

// defaultClasses is how many classes LoadIDX assumes at least: MNIST,
// Fashion-MNIST and KMNIST all have ten.
const defaultClasses = 10

// MNISTLike is a grayscale image data set in the MNIST layout: N images of
// H×W unsigned bytes with one unsigned-byte label each. It keeps the raw
// bytes and converts an image to float32 only when it is asked for, mapping
// a pixel v to v/255*2-1. It is read-only and safe for concurrent use.
type MNISTLike struct {
	h, w    int
	pixels  []byte  // len(labels)*h*w bytes, image after image
	labels  []uint8 // one per image
	classes []string
}

var (
	_ Dataset = (*MNISTLike)(nil)
	_ Filler  = (*MNISTLike)(nil)
)

// LoadIDX builds an MNISTLike data set from an IDX image file of shape
// [N, H, W] and an IDX label file of shape [N], both of unsigned bytes and
// each optionally gzip-compressed. The class names default to "0", "1", …
// for max(10, largest label + 1) classes; see WithClasses.
func LoadIDX(images, labels io.Reader) (*MNISTLike, error) {
	img, err := ReadIDX(images)
	if err != nil {
		return nil, fmt.Errorf("data: LoadIDX images: %w", err)
	}
	lab, err := ReadIDX(labels)
	if err != nil {
		return nil, fmt.Errorf("data: LoadIDX labels: %w", err)
	}
	if img.Type != TypeUint8 || len(img.Dims) != 3 {
		return nil, fmt.Errorf("data: LoadIDX: images must be [N, H, W] %s, got %v %s", typeName(TypeUint8), img.Dims, typeName(img.Type))
	}
	if lab.Type != TypeUint8 || len(lab.Dims) != 1 {
		return nil, fmt.Errorf("data: LoadIDX: labels must be [N] %s, got %v %s", typeName(TypeUint8), lab.Dims, typeName(lab.Type))
	}
	if img.Dims[0] != lab.Dims[0] {
		return nil, fmt.Errorf("data: LoadIDX: %d images but %d labels", img.Dims[0], lab.Dims[0])
	}
	if img.Dims[1] == 0 || img.Dims[2] == 0 {
		return nil, fmt.Errorf("data: LoadIDX: empty %d×%d images", img.Dims[1], img.Dims[2])
	}
	k := defaultClasses
	for _, l := range lab.Data {
		k = max(k, int(l)+1)
	}
	classes := make([]string, k)
	for i := range classes {
		classes[i] = strconv.Itoa(i)
	}
	return &MNISTLike{h: img.Dims[1], w: img.Dims[2], pixels: img.Data, labels: lab.Data, classes: classes}, nil
}

// WithClasses returns a copy of d, sharing its images, whose classes are
// named by names. It fails if a label is not an index into names.
func (d *MNISTLike) WithClasses(names []string) (*MNISTLike, error) {
	for i, l := range d.labels {
		if int(l) >= len(names) {
			return nil, fmt.Errorf("data: WithClasses: image %d has label %d, but only %d class names were given", i, l, len(names))
		}
	}
	c := *d
	c.classes = append([]string(nil), names...)
	return &c, nil
}

// Len returns the number of images.
func (d *MNISTLike) Len() int { return len(d.labels) }

// Shape returns 1, H, W.
func (d *MNISTLike) Shape() (c, h, w int) { return 1, d.h, d.w }

// Classes returns the class names, index = label. The slice is shared: do
// not modify it.
func (d *MNISTLike) Classes() []string { return d.classes }

// Labels returns a copy of every image's label, in order, without decoding
// any pixels.
func (d *MNISTLike) Labels() []int {
	out := make([]int, len(d.labels))
	for i, l := range d.labels {
		out[i] = int(l)
	}
	return out
}

// Get returns image i as 1×H×W float32 values in [-1, 1] and its label.
func (d *MNISTLike) Get(i int) (img []float32, label int, err error) {
	img = make([]float32, d.h*d.w)
	label, err = d.Fill(i, img)
	if err != nil {
		return nil, 0, err
	}
	return img, label, nil
}

// Fill decodes image i into dst, which must hold exactly H*W values, and
// returns its label.
func (d *MNISTLike) Fill(i int, dst []float32) (label int, err error) {
	if i < 0 || i >= len(d.labels) {
		return 0, fmt.Errorf("data: image index %d out of range [0, %d)", i, len(d.labels))
	}
	hw := d.h * d.w
	if len(dst) != hw {
		return 0, fmt.Errorf("data: image %d: buffer holds %d values, want %d", i, len(dst), hw)
	}
	for j, v := range d.pixels[i*hw : (i+1)*hw] {
		dst[j] = float32(v)/255*2 - 1
	}
	return int(d.labels[i]), nil
}

// Split returns the first n images and the remaining Len()-n images as two
// data sets that share d's memory. The split is deterministic: it does not
// shuffle (the Loader does). It panics if n is outside [0, Len()].
//
// The halves are *MNISTLike rather than plain Datasets so that Channels and
// Split can still be applied to them.
func (d *MNISTLike) Split(n int) (first, rest *MNISTLike) {
	if n < 0 || n > len(d.labels) {
		panic(fmt.Sprintf("data: Split(%d) of a data set of %d images", n, len(d.labels)))
	}
	hw := d.h * d.w
	a, b := *d, *d
	a.pixels, a.labels = d.pixels[:n*hw:n*hw], d.labels[:n:n]
	b.pixels, b.labels = d.pixels[n*hw:], d.labels[n:]
	return &a, &b
}

// Channels returns a view of d whose images have c channels, each a copy of
// the grayscale image: c = 1 is d itself, c = 3 feeds models that expect
// RGB. It panics if c < 1.
func (d *MNISTLike) Channels(c int) Dataset {
	if c < 1 {
		panic(fmt.Sprintf("data: Channels(%d): need at least one channel", c))
	}
	if c == 1 {
		return d
	}
	return &channelView{d: d, c: c}
}

// channelView replicates a grayscale data set's single channel c times.
type channelView struct {
	d *MNISTLike
	c int
}

var (
	_ Dataset = (*channelView)(nil)
	_ Filler  = (*channelView)(nil)
)

func (v *channelView) Len() int             { return v.d.Len() }
func (v *channelView) Shape() (c, h, w int) { return v.c, v.d.h, v.d.w }
func (v *channelView) Classes() []string    { return v.d.Classes() }
func (v *channelView) Get(i int) ([]float32, int, error) {
	img := make([]float32, v.c*v.d.h*v.d.w)
	label, err := v.Fill(i, img)
	if err != nil {
		return nil, 0, err
	}
	return img, label, nil
}

func (v *channelView) Fill(i int, dst []float32) (int, error) {
	hw := v.d.h * v.d.w
	if len(dst) != v.c*hw {
		return 0, fmt.Errorf("data: image %d: buffer holds %d values, want %d", i, len(dst), v.c*hw)
	}
	label, err := v.d.Fill(i, dst[:hw])
	if err != nil {
		return 0, err
	}
	for ch := 1; ch < v.c; ch++ {
		copy(dst[ch*hw:(ch+1)*hw], dst[:hw])
	}
	return label, nil
}
