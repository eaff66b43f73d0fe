package vk

import (
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDevice opens the default device or skips when the machine has no
// Vulkan at all (make test installs Lavapipe, so CI never skips).
func testDevice(t *testing.T) *Device {
	t.Helper()
	d, err := Default()
	if err != nil {
		t.Skipf("no Vulkan device: %v", err)
	}
	t.Cleanup(func() {
		require.NoError(t, d.Sync())
		msgs := TakeValidationMessages()
		require.Empty(t, msgs, "Vulkan validation layer reported problems")
	})
	return d
}

// fallbackDevices opens extra devices that take the fallback paths:
// descriptor pools instead of push descriptors, and staging copies instead
// of mapped tensor memory.
func forEachConfig(t *testing.T, fn func(t *testing.T, d *Device)) {
	t.Run("default", func(t *testing.T) { fn(t, testDevice(t)) })
	for _, cfg := range []struct {
		name string
		opts deviceOptions
	}{
		{"descriptor-pools", deviceOptions{noPushDescriptor: true}},
		{"staging", deviceOptions{staging: true}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			def := testDevice(t)
			registry.mu.Lock()
			d, err := openDevice(registry.inst, def.Info.Index, cfg.opts)
			registry.mu.Unlock()
			require.NoError(t, err)
			defer func() { require.NoError(t, d.Close()) }()
			fn(t, d)
			require.NoError(t, d.Sync())
		})
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

func TestValidationLayerActive(t *testing.T) {
	testDevice(t)
	if os.Getenv("TESSERA_VALIDATION") != "1" {
		t.Skip("TESSERA_VALIDATION is not 1 (make test sets it)")
	}
	if !hasInstanceLayer(validationLayer) {
		t.Skip("the Khronos validation layer is not installed (apt-get install vulkan-validationlayers)")
	}
	assert.True(t, ValidationEnabled())
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bytesf32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

var unarySpec = KernelSpec{Name: "unary", Buffers: 2, PushWords: 4}

func TestPick(t *testing.T) {
	infos := []DeviceInfo{
		{Name: "llvmpipe (LLVM 15)", Type: TypeCPU},
		{Name: "AMD Radeon RX 7900", Type: TypeDiscrete},
		{Name: "Intel UHD 770", Type: TypeIntegrated},
	}
	tests := []struct {
		sel     string
		want    int
		wantErr bool
	}{
		{"", 1, false},
		{"0", 0, false},
		{"2", 2, false},
		{"intel", 2, false},
		{"LLVMPIPE", 0, false},
		{"7", 0, true},
		{"nvidia", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.sel, func(t *testing.T) {
			got, err := Pick(infos, tc.sel)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := Pick(nil, "")
	require.ErrorIs(t, err, ErrNoVulkan)
}

func TestSizeClass(t *testing.T) {
	tests := []struct{ n, want uint64 }{
		{1, 256}, {256, 256}, {257, 512}, {1000, 1024}, {1025, 1280}, {5000, 5120}, {1 << 20, 1 << 20}, {(1 << 20) + 1, 5 << 18},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, sizeClass(tc.n, 256), "n=%d", tc.n)
		assert.GreaterOrEqual(t, sizeClass(tc.n, 256), tc.n)
	}
}

func TestDevicesDescribe(t *testing.T) {
	d := testDevice(t)
	infos, err := Devices()
	require.NoError(t, err)
	require.NotEmpty(t, infos)
	assert.NotEmpty(t, d.Info.Name)
	assert.NotZero(t, d.Info.SubgroupSize, "subgroup size comes from vkGetPhysicalDeviceProperties2")
	assert.NotZero(t, d.Info.MaxStorageBufferRange)
	assert.Contains(t, d.Info.Describe(), "subgroup size")
}

func TestWriteReadRoundTrip(t *testing.T) {
	forEachConfig(t, func(t *testing.T, d *Device) {
		for _, n := range []int{1, 3, 1000, 70001} {
			r, err := d.Alloc(uint64(4 * n))
			require.NoError(t, err)
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(i)*0.5 - 3
			}
			require.NoError(t, d.Write(r, f32bytes(src)))
			got := make([]byte, 4*n)
			require.NoError(t, d.Read(r, got))
			assert.Equal(t, src, bytesf32(got))
			d.Free(r)
		}
	})
}

// TestStagedWriteOrdering writes while work is pending, so the write goes
// through a staging copy that must land after the recorded dispatch.
func TestStagedWriteOrdering(t *testing.T) {
	forEachConfig(t, func(t *testing.T, d *Device) {
		k, err := d.Kernel(unarySpec, 64)
		require.NoError(t, err)
		const n = 4099
		a, _ := d.Alloc(4 * n)
		b, _ := d.Alloc(4 * n)
		defer d.Free(a)
		defer d.Free(b)
		ones := make([]float32, n)
		twos := make([]float32, n)
		for i := range ones {
			ones[i], twos[i] = 1, 2
		}
		require.NoError(t, d.Write(a, f32bytes(ones)))
		d.Dispatch(k, d.Groups1D(n, 64), []uint32{n, 13, 0, 0}, Work{}, In(a), Out(b)) // b = copy(a)
		require.NoError(t, d.Write(a, f32bytes(twos)))                                 // staged: after the copy
		got := make([]byte, 4*n)
		require.NoError(t, d.Read(b, got))
		assert.Equal(t, ones, bytesf32(got))
		require.NoError(t, d.Read(a, got))
		assert.Equal(t, twos, bytesf32(got))
	})
}

func TestDispatchUnaryAndHazards(t *testing.T) {
	forEachConfig(t, func(t *testing.T, d *Device) {
		k, err := d.Kernel(unarySpec, 64)
		require.NoError(t, err)
		const n = 1000
		x, _ := d.Alloc(4 * n)
		y, _ := d.Alloc(4 * n)
		z, _ := d.Alloc(4 * n)
		w, _ := d.Alloc(4 * n)
		defer func() {
			for _, r := range []Range{x, y, z, w} {
				d.Free(r)
			}
		}()
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i%17) - 8
		}
		require.NoError(t, d.Write(x, f32bytes(src)))
		require.NoError(t, d.Sync())

		before := d.Stats()
		g := d.Groups1D(n, 64)
		d.Dispatch(k, g, []uint32{n, 0, 0, 0}, Work{}, In(x), Out(y)) // y = -x
		d.Dispatch(k, g, []uint32{n, 1, 0, 0}, Work{}, In(x), Out(z)) // z = |x|: independent, no barrier
		mid := d.Stats()
		d.Dispatch(k, g, []uint32{n, 9, 0, 0}, Work{}, In(y), Out(w)) // w = relu(y): reads y (RAW)
		after := d.Stats()
		require.NoError(t, d.Sync())

		// The first dispatch opens a command buffer (one ordering barrier);
		// the second needs none; the third must wait for the first.
		assert.Equal(t, before.Barriers+1, mid.Barriers, "independent dispatches must not be separated by a barrier")
		assert.Equal(t, mid.Barriers+1, after.Barriers, "a read of a just-written range needs a barrier")

		got := make([]byte, 4*n)
		require.NoError(t, d.Read(w, got))
		for i, v := range bytesf32(got) {
			assert.Equal(t, float32(math.Max(0, float64(-src[i]))), v, "i=%d", i)
		}
		require.NoError(t, d.Read(z, got))
		for i, v := range bytesf32(got) {
			assert.Equal(t, float32(math.Abs(float64(src[i]))), v, "i=%d", i)
		}
	})
}

func TestWriteAfterReadHazard(t *testing.T) {
	d := testDevice(t)
	k, err := d.Kernel(unarySpec, 64)
	require.NoError(t, err)
	const n = 256
	x, _ := d.Alloc(4 * n)
	y, _ := d.Alloc(4 * n)
	defer d.Free(x)
	defer d.Free(y)
	require.NoError(t, d.Sync())
	g := d.Groups1D(n, 64)
	d.Dispatch(k, g, []uint32{n, 13, 0, 0}, Work{}, In(x), Out(y))
	b := d.Stats().Barriers
	d.Dispatch(k, g, []uint32{n, 13, 0, 0}, Work{}, In(y), Out(x)) // writes x, which the first read: WAR
	assert.Equal(t, b+1, d.Stats().Barriers)
	require.NoError(t, d.Sync())
}

func TestManyDispatchesSubmitInBatches(t *testing.T) {
	forEachConfig(t, func(t *testing.T, d *Device) {
		k, err := d.Kernel(unarySpec, 64)
		require.NoError(t, err)
		x, _ := d.Alloc(4 * 64)
		defer d.Free(x)
		require.NoError(t, d.Write(x, f32bytes(make([]float32, 64))))
		before := d.Stats()
		// x = x*1 + 1, 3000 times: several command buffers, each step depends on the last.
		for i := 0; i < 3000; i++ {
			d.Dispatch(k, [3]uint32{1, 1, 1}, []uint32{64, 14, math.Float32bits(1), math.Float32bits(1)}, Work{}, In(x), Out(x))
		}
		got := make([]byte, 4*64)
		require.NoError(t, d.Read(x, got))
		for _, v := range bytesf32(got) {
			require.Equal(t, float32(3000), v)
		}
		assert.GreaterOrEqual(t, d.Stats().Submits-before.Submits, uint64(3))
	})
}

func TestAllocatorAccountingAndReuse(t *testing.T) {
	d := testDevice(t)
	require.NoError(t, d.Sync())
	base := d.Memory()
	var rs []Range
	for i := 1; i <= 200; i++ {
		r, err := d.Alloc(uint64(i * 997))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	mid := d.Memory()
	assert.Greater(t, mid.Live, base.Live)
	assert.GreaterOrEqual(t, mid.Peak, mid.Live)
	for _, r := range rs {
		d.Free(r)
	}
	assert.Equal(t, base.Live, d.Memory().Live, "every byte comes back")
	// Freed memory is reused: the same pattern needs no new block.
	blocks := d.Memory().Blocks
	for i := 1; i <= 200; i++ {
		r, err := d.Alloc(uint64(i * 997))
		require.NoError(t, err)
		rs[i-1] = r
	}
	assert.Equal(t, blocks, d.Memory().Blocks)
	for _, r := range rs {
		d.Free(r)
	}
}

func TestAllocErrors(t *testing.T) {
	d := testDevice(t)
	_, err := d.Alloc(d.Info.MaxStorageBufferRange + 1)
	require.ErrorIs(t, err, ErrOutOfDeviceMemory)
	assert.Contains(t, err.Error(), "maxStorageBufferRange")
}

func TestKernelErrors(t *testing.T) {
	d := testDevice(t)
	_, err := d.Kernel(KernelSpec{Name: "no-such-kernel", Buffers: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no-such-kernel")
	_, err = d.Kernel(KernelSpec{Name: "unary", Buffers: 2, PushWords: 1000})
	require.Error(t, err)
}

func TestFillAndCopy(t *testing.T) {
	forEachConfig(t, func(t *testing.T, d *Device) {
		a, _ := d.Alloc(4 * 10)
		b, _ := d.Alloc(4 * 10)
		defer d.Free(a)
		defer d.Free(b)
		d.Fill(a, math.Float32bits(2.5))
		d.Copy(b, a)
		got := make([]byte, 40)
		require.NoError(t, d.Read(b, got))
		for _, v := range bytesf32(got) {
			assert.Equal(t, float32(2.5), v)
		}
	})
}

func TestProfilerTimesKernels(t *testing.T) {
	def := testDevice(t)
	if !def.Info.TimestampsOnCompute {
		t.Skip("the device has no timestamps on its compute queue")
	}
	registry.mu.Lock()
	d, err := openDevice(registry.inst, def.Info.Index, deviceOptions{profile: true})
	registry.mu.Unlock()
	require.NoError(t, err)
	defer func() { require.NoError(t, d.Close()) }()
	k, err := d.Kernel(unarySpec, 64)
	require.NoError(t, err)
	const n = 1 << 16
	x, _ := d.Alloc(4 * n)
	y, _ := d.Alloc(4 * n)
	for i := 0; i < 5; i++ {
		d.Dispatch(k, d.Groups1D(n, 64), []uint32{n, 2, 0, 0}, Work{Flops: n, Bytes: 8 * n}, In(x), Out(y))
	}
	rows := d.Profile()
	require.Len(t, rows, 1)
	assert.Equal(t, "unary[64]", rows[0].Kernel)
	assert.Equal(t, 5, rows[0].Calls)
	assert.Greater(t, rows[0].TotalMs, 0.0)
	assert.Greater(t, rows[0].GBps, 0.0)
	var buf strings.Builder
	d.prof.print(&buf, d.Info.Name)
	assert.Contains(t, buf.String(), "unary[64]")
	d.Free(x)
	d.Free(y)
}
