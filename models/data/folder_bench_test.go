package data

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFolderGet decodes a 500×375 JPEG, ImageNet's typical size, into
// a 3×224×224 training crop.
func BenchmarkFolderGet(b *testing.B) {
	root := b.TempDir()
	m := rgbFunc(500, 375, func(x, y int) (uint8, uint8, uint8) { return uint8(x), uint8(y), uint8(x ^ y) })
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "c"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "c", "a.jpg"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := OpenFolder(root, FolderOptions{Size: 224, Train: true})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 3*224*224)
	for b.Loop() {
		if _, err := f.Fill(0, dst); err != nil {
			b.Fatal(err)
		}
	}
}
