package tensor

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-ml/tessera/vk"
)

func init() {
	if v, err := strconv.Atoi(os.Getenv("MM_TR")); err == nil {
		matmulTR = v
	}
	if v, err := strconv.Atoi(os.Getenv("MM_CPT")); err == nil {
		matmulColsPerTC = v
	}
	if v, err := strconv.Atoi(os.Getenv("MM_TC")); err == nil {
		matmulTC = v
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMatmulExp prints wall and CPU-time based GFLOP/s for MM_SHAPES.
func TestMatmulExp(t *testing.T) {
	shapes := os.Getenv("MM_SHAPES")
	if shapes == "" {
		t.Skip()
	}
	dev, err := vk.Default()
	if err != nil {
		t.Skip()
	}
	e := New(dev)
	reps, _ := strconv.Atoi(os.Getenv("MM_REPS"))
	if reps == 0 {
		reps = 3
	}
	for _, s := range strings.Split(shapes, ",") {
		var m, n, k int
		fmt.Sscanf(s, "%dx%dx%d", &m, &n, &k)
		sc := e.Scope()
		rng := rand.New(rand.NewSource(1))
		x := e.FromFloat32(matmulRandData(rng, m*k), m, k)
		y := e.FromFloat32(matmulRandData(rng, k*n), k, n)
		t0 := time.Now()
		Matmul(x, y, false, false).Release()
		e.Sync()
		fmt.Printf("warm-up %v\n", time.Since(t0))
		bestW, bestC := time.Duration(1<<62), time.Duration(1<<62)
		for i := 0; i < reps; i++ {
			c0, w0 := cpuTime(), time.Now()
			z := Matmul(x, y, false, false)
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
			w, c := time.Since(w0), cpuTime()-c0
			bestW, bestC = min(bestW, w), min(bestC, c)
			z.Release()
		}
		f := MatmulFlops(m, n, k, 1)
		fmt.Printf("%-16s wall %6.2f  cpu/2 %6.2f GFLOP/s\n", s, f/bestW.Seconds()/1e9, f/(bestC.Seconds()/2)/1e9)
		sc.Close()
	}
}
