package data

import (
	"context"
	"testing"
)

func BenchmarkFashionMNIST(b *testing.B) {
	for b.Loop() {
		if _, err := FashionMNIST(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoaderEpoch(b *testing.B) {
	d, err := FashionMNIST()
	if err != nil {
		b.Fatal(err)
	}
	l := NewLoader(d.Channels(3), 256, LoaderOptions{Shuffle: true, Seed: 1})
	epoch := 0
	for b.Loop() {
		for _, err := range l.Epoch(context.Background(), epoch) {
			if err != nil {
				b.Fatal(err)
			}
		}
		epoch++
	}
	b.ReportMetric(float64(d.Len())*float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
