// Package data reads image data sets and feeds them to models in batches.
//
// ReadIDX and WriteIDX handle the IDX array format of MNIST-style data sets,
// plain or gzip-compressed. LoadIDX turns an IDX image file and label file
// into an MNISTLike Dataset, and FashionMNIST returns the Fashion-MNIST test
// split (10 000 images, Zalando SE, MIT licence) that is embedded in the
// binary. Every Dataset hands out float32 CHW images in [-1, 1] with int
// labels. A Loader cuts a Dataset into shuffled or ordered batches, decoding
// them on background goroutines in an order fixed by its seed and the epoch.
package data
