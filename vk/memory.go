package vk

import (
	"errors"
	"fmt"
	"sort"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// ErrOutOfDeviceMemory is returned (wrapped) when an allocation cannot be met.
var ErrOutOfDeviceMemory = errors.New("vk: out of device memory")

// Range is one allocation: a sub-range of a block's buffer. Its zero value is
// "no allocation". Ranges are values; the allocator tracks ownership.
type Range struct {
	blk    *block
	Offset uint64
	Size   uint64 // bytes requested: what descriptors bind
	class  uint64 // bytes reserved
}

// Valid reports whether r refers to an allocation.
func (r Range) Valid() bool { return r.blk != nil }

// Sub returns the sub-range [off, off+size) of r (a view, not an allocation).
func (r Range) Sub(off, size uint64) Range {
	if off+size > r.Size {
		panic(fmt.Sprintf("vk: sub-range [%d,%d) outside a %d-byte range", off, off+size, r.Size))
	}
	return Range{blk: r.blk, Offset: r.Offset + off, Size: size}
}

// Bytes returns the range's host mapping, or nil when its memory is not host
// visible. Only safe to use while no recorded GPU work touches it.
func (r Range) bytes() []byte {
	if r.blk == nil || r.blk.mapped == nil || r.Size == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(r.blk.mapped, r.Offset)), r.Size)
}

type span struct{ off, size uint64 }

type block struct {
	id     int
	mem    vk.DeviceMemory
	buf    vk.Buffer
	size   uint64
	mapped unsafe.Pointer
	free   []span // sorted by offset, coalesced
	used   uint64
}

// handle is the buffer as the C shim takes it.
func (b *block) handle() uint64 { return uint64(uintptr(unsafe.Pointer(b.buf))) }

// allocator sub-allocates one memory type. Freed ranges return to their
// block's free list at once: with one in-order queue and hazard barriers the
// GPU never sees a reuse before the last use is finished.
type allocator struct {
	dev         vk.Device
	typeIndex   uint32
	hostVisible bool
	usage       vk.BufferUsageFlagBits
	blockSize   uint64
	maxAlloc    uint64
	maxRange    uint64
	align       uint64
	blocks      []*block
	nextID      int
	live, peak  uint64
	reserved    uint64
	name        string
}

// sizeClass rounds n up to a multiple of align, then to one of four steps
// per power of two, so freed ranges fit later requests of similar size.
func sizeClass(n, align uint64) uint64 {
	if n < align {
		return align
	}
	n = (n + align - 1) / align * align
	p := uint64(1)
	for p*2 <= n {
		p *= 2
	}
	step := p / 4
	if step < align {
		step = align
	}
	return (n + step - 1) / step * step
}

func (a *allocator) alloc(size uint64) (Range, error) {
	if size > a.maxRange {
		return Range{}, fmt.Errorf("%w: %s requested, but this device binds at most %s per buffer (maxStorageBufferRange); use a smaller batch or shape",
			ErrOutOfDeviceMemory, FormatBytes(size), FormatBytes(a.maxRange))
	}
	cls := sizeClass(size, a.align)
	if r, ok := a.fit(size, cls); ok {
		return r, nil
	}
	bsize := a.blockSize
	if cls > bsize {
		bsize = cls
	}
	_, err := a.newBlock(bsize)
	if err != nil && errors.Is(err, ErrOutOfDeviceMemory) {
		// Cached empty blocks may be what stands in the way; then try a
		// block just big enough.
		a.trim()
		if _, err = a.newBlock(bsize); err != nil && bsize > cls {
			_, err = a.newBlock(cls)
		}
	}
	if err != nil {
		return Range{}, err
	}
	r, _ := a.fit(size, cls)
	return r, nil
}

// fit takes the best-fitting free span of at least cls bytes.
func (a *allocator) fit(size, cls uint64) (Range, bool) {
	var best *block
	bi := -1
	for _, b := range a.blocks {
		for i, s := range b.free {
			if s.size >= cls && (best == nil || s.size < best.free[bi].size) {
				best, bi = b, i
			}
		}
	}
	if best == nil {
		return Range{}, false
	}
	s := best.free[bi]
	if s.size == cls {
		best.free = append(best.free[:bi], best.free[bi+1:]...)
	} else {
		best.free[bi] = span{s.off + cls, s.size - cls}
	}
	best.used += cls
	a.live += cls
	if a.live > a.peak {
		a.peak = a.live
	}
	return Range{blk: best, Offset: s.off, Size: size, class: cls}, true
}

func (a *allocator) release(r Range) {
	if r.blk == nil || r.class == 0 {
		return
	}
	b := r.blk
	s := span{r.Offset, r.class}
	i := sort.Search(len(b.free), func(i int) bool { return b.free[i].off >= s.off })
	if i < len(b.free) && b.free[i].off == s.off {
		panic("vk: range released twice")
	}
	b.free = append(b.free, span{})
	copy(b.free[i+1:], b.free[i:])
	b.free[i] = s
	// Coalesce with the next, then the previous span.
	if i+1 < len(b.free) && b.free[i].off+b.free[i].size == b.free[i+1].off {
		b.free[i].size += b.free[i+1].size
		b.free = append(b.free[:i+1], b.free[i+2:]...)
	}
	if i > 0 && b.free[i-1].off+b.free[i-1].size == b.free[i].off {
		b.free[i-1].size += b.free[i].size
		b.free = append(b.free[:i], b.free[i+1:]...)
	}
	b.used -= r.class
	a.live -= r.class
}

func (a *allocator) newBlock(size uint64) (*block, error) {
	if size > a.maxAlloc {
		return nil, fmt.Errorf("%w: %s in one allocation exceeds the device's limit of %s", ErrOutOfDeviceMemory, FormatBytes(size), FormatBytes(a.maxAlloc))
	}
	bci := vk.BufferCreateInfo{
		SType:       vk.StructureTypeBufferCreateInfo,
		Size:        vk.DeviceSize(size),
		Usage:       vk.BufferUsageFlags(a.usage),
		SharingMode: vk.SharingModeExclusive,
	}
	var buf vk.Buffer
	if res := vk.CreateBuffer(a.dev, &bci, nil, &buf); res != vk.Success {
		return nil, wrapResult("vkCreateBuffer", res)
	}
	var req vk.MemoryRequirements
	vk.GetBufferMemoryRequirements(a.dev, buf, &req)
	req.Deref()
	mai := vk.MemoryAllocateInfo{
		SType:           vk.StructureTypeMemoryAllocateInfo,
		AllocationSize:  req.Size,
		MemoryTypeIndex: a.typeIndex,
	}
	var mem vk.DeviceMemory
	if res := vk.AllocateMemory(a.dev, &mai, nil, &mem); res != vk.Success {
		vk.DestroyBuffer(a.dev, buf, nil)
		return nil, fmt.Errorf("%s: allocating a %s block (%s live in %d blocks): %w",
			a.name, FormatBytes(size), FormatBytes(a.live), len(a.blocks), wrapResult("vkAllocateMemory", res))
	}
	if res := vk.BindBufferMemory(a.dev, buf, mem, 0); res != vk.Success {
		vk.FreeMemory(a.dev, mem, nil)
		vk.DestroyBuffer(a.dev, buf, nil)
		return nil, wrapResult("vkBindBufferMemory", res)
	}
	b := &block{id: a.nextID, mem: mem, buf: buf, size: size, free: []span{{0, size}}}
	a.nextID++
	if a.hostVisible {
		var p unsafe.Pointer
		if res := vk.MapMemory(a.dev, mem, 0, vk.DeviceSize(vk.WholeSize), 0, &p); res != vk.Success {
			vk.FreeMemory(a.dev, mem, nil)
			vk.DestroyBuffer(a.dev, buf, nil)
			return nil, wrapResult("vkMapMemory", res)
		}
		b.mapped = p
	}
	a.blocks = append(a.blocks, b)
	a.reserved += size
	return b, nil
}

// trim frees every block with nothing allocated in it.
func (a *allocator) trim() {
	kept := a.blocks[:0]
	for _, b := range a.blocks {
		if b.used == 0 {
			a.destroyBlock(b)
			continue
		}
		kept = append(kept, b)
	}
	a.blocks = kept
}

func (a *allocator) destroyBlock(b *block) {
	if b.mapped != nil {
		vk.UnmapMemory(a.dev, b.mem)
	}
	vk.DestroyBuffer(a.dev, b.buf, nil)
	vk.FreeMemory(a.dev, b.mem, nil)
	a.reserved -= b.size
}

func (a *allocator) destroy() {
	for _, b := range a.blocks {
		a.destroyBlock(b)
	}
	a.blocks = nil
}

// wrapResult turns a VkResult into an error; memory exhaustion wraps
// ErrOutOfDeviceMemory so callers can test for it.
func wrapResult(call string, res vk.Result) error {
	switch res {
	case vk.ErrorOutOfDeviceMemory, vk.ErrorOutOfHostMemory:
		return fmt.Errorf("%w: %s: %v (free tensors, lower the batch size, or pick another device with TESSERA_DEVICE)", ErrOutOfDeviceMemory, call, vk.Error(res))
	}
	return fmt.Errorf("vk: %s: %v", call, vk.Error(res))
}

// chooseMemoryTypes picks the memory type for tensors and for staging.
// Device-local host-visible memory is used directly when it lives on the
// largest device-local heap (unified memory, resizable BAR, Lavapipe); a
// small BAR window is not worth the pressure.
func chooseMemoryTypes(info *DeviceInfo) (tensorType int, tensorHost bool, stagingType int, err error) {
	const (
		dl = vk.MemoryPropertyFlags(vk.MemoryPropertyDeviceLocalBit)
		hv = vk.MemoryPropertyFlags(vk.MemoryPropertyHostVisibleBit)
		hc = vk.MemoryPropertyFlags(vk.MemoryPropertyHostCoherentBit)
		ca = vk.MemoryPropertyFlags(vk.MemoryPropertyHostCachedBit)
	)
	var largest uint64
	for _, h := range info.Heaps {
		if h.DeviceLocal && h.Size > largest {
			largest = h.Size
		}
	}
	tensorType, stagingType = -1, -1
	for i, t := range info.memTypes {
		if t.flags&(dl|hv|hc) == dl|hv|hc && info.Heaps[t.heap].Size >= largest {
			tensorType, tensorHost = i, true
			break
		}
	}
	if tensorType < 0 {
		for i, t := range info.memTypes {
			if t.flags&dl != 0 {
				tensorType = i
				break
			}
		}
	}
	for i, t := range info.memTypes {
		if t.flags&(hv|hc|ca) == hv|hc|ca {
			stagingType = i
			break
		}
	}
	if stagingType < 0 {
		for i, t := range info.memTypes {
			if t.flags&(hv|hc) == hv|hc {
				stagingType = i
				break
			}
		}
	}
	if tensorType < 0 {
		tensorType = stagingType
		tensorHost = true
	}
	if tensorType < 0 || stagingType < 0 {
		return 0, false, 0, fmt.Errorf("vk: %s has no usable memory type (need device-local and host-visible coherent memory)", info.Name)
	}
	return tensorType, tensorHost, stagingType, nil
}
