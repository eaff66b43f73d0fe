package data

import (
	"bytes"
	_ "embed" // for the bundled Fashion-MNIST files
	"fmt"
)

// The Fashion-MNIST test split (Zalando SE, MIT licence: see
// fashionmnist/LICENSE), gzip-compressed IDX files built into the binary.
var (
	//go:embed fashionmnist/t10k-images-idx3-ubyte.gz
	fashionImagesGz []byte
	//go:embed fashionmnist/t10k-labels-idx1-ubyte.gz
	fashionLabelsGz []byte
)

// FashionMNISTLen is the number of images in the bundled Fashion-MNIST test
// split.
const FashionMNISTLen = 10000

// FashionMNISTClasses returns the ten Fashion-MNIST class names, index =
// label.
func FashionMNISTClasses() []string {
	return []string{
		"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
	}
}

// FashionMNIST returns the Fashion-MNIST test split bundled in the binary:
// 10 000 grayscale 28×28 images of clothing in ten classes, 1 000 each.
// Every call decompresses the embedded 4.4 MB afresh into 7.8 MB of pixels
// (on the order of 0.1 s); nothing is cached between calls, so keep the
// result rather than calling again. Split(8000) gives the
// usual 8 000 training / 2 000 held-out division.
func FashionMNIST() (*MNISTLike, error) {
	d, err := LoadIDX(bytes.NewReader(fashionImagesGz), bytes.NewReader(fashionLabelsGz))
	if err != nil {
		return nil, fmt.Errorf("data: bundled Fashion-MNIST: %w", err)
	}
	if c, h, w := d.Shape(); d.Len() != FashionMNISTLen || c != 1 || h != 28 || w != 28 {
		return nil, fmt.Errorf("data: bundled Fashion-MNIST: got %d images of %d×%d×%d, want %d of 1×28×28", d.Len(), c, h, w, FashionMNISTLen)
	}
	d, err = d.WithClasses(FashionMNISTClasses())
	if err != nil {
		return nil, fmt.Errorf("data: bundled Fashion-MNIST: %w", err)
	}
	return d, nil
}
