package data

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// RandomFiller is implemented by data sets whose decoding itself is random,
// such as a Folder in training mode, which crops and flips at random.
// FillRand decodes image i into dst, which holds exactly c*h*w values,
// drawing every random choice from rng, and returns its label. The same rng
// state gives the same image, so a caller that seeds rng from (seed, epoch,
// index) gets augmentation that does not depend on decoding order.
type RandomFiller interface {
	FillRand(i int, dst []float32, rng *rand.Rand) (label int, err error)
}

// FolderOptions configures OpenFolder.
type FolderOptions struct {
	// Size is the side of the square images the Folder hands out; it must
	// be at least 1.
	Size int
	// Channels is 3 for RGB or 1 for grayscale output; 0 means 3.
	// Grayscale files given 3 channels are replicated into all three; colour
	// files given 1 channel are reduced to ITU-R BT.601 luma,
	// 0.299R + 0.587G + 0.114B.
	Channels int
	// Train selects the training transform: resize the short side to
	// round(1.125·Size), then cut a random Size×Size window and mirror it
	// left to right with probability 1/2. Otherwise (evaluation) the short
	// side is resized to Size and the centre Size×Size window is cut out.
	Train bool
	// Flat reads root as one folder of images, all of class "" (label 0),
	// instead of one subfolder per class. Subfolders are then ignored.
	Flat bool
	// SkipBad leaves out image files that fail the checks at OpenFolder,
	// listing them in Skipped, instead of failing.
	SkipBad bool
	// Verify decodes every image fully at OpenFolder, so that SkipBad (or
	// the error) covers every corrupt file rather than those the cheap
	// checks catch. It costs a full decode of the data set.
	Verify bool
	// Seed seeds the random crops and flips of Get, Fill and AtEpoch.
	Seed uint64
}

// folderFile is one image file of a Folder.
type folderFile struct {
	path  string
	label int
	w, h  int // from the header, checked again when decoding
}

// Folder is an image classification data set read from a folder tree in
// the ImageNet layout, root/<class>/…/<image>, or from one flat folder of
// images (FolderOptions.Flat). It reads JPEG, PNG and WebP files, recognised
// by their contents; it picks files by their extension (.jpg, .jpeg, .png,
// .webp, in any case) and ignores other files as well as names starting
// with a dot. Class names are the subfolder names sorted byte-wise, label =
// index; an empty class folder still gets its label. A class folder may be
// a symbolic link; images inside it are found recursively, in lexical
// order, without following symbolic links to folders.
//
// Every image is decoded when it is asked for, resized with area averaging
// where it shrinks and Catmull-Rom interpolation where it grows, computed
// in float32, then cropped to Size×Size (see FolderOptions.Train) and
// handed out as Channels×Size×Size CHW values in [-1, 1]. Transparent
// pixels are composited on black. Lossy WebP colours are converted from
// the limited-range Y'CbCr the format uses, which golang.org/x/image/webp
// hands out as if it were full range.
//
// In training mode Get and Fill draw their crops and flips from a source
// seeded by (Seed, epoch 0, index): the same for every call. AtEpoch gives
// the crops of another epoch, and FillRand those of any random source, such
// as a Loader's.
//
// A Folder is read-only after OpenFolder and safe for concurrent use.
type Folder struct {
	opts    FolderOptions
	short   int // the short side images are resized to before cropping
	classes []string
	files   []folderFile
	skipped []string
}

var (
	_ Dataset      = (*Folder)(nil)
	_ Filler       = (*Folder)(nil)
	_ RandomFiller = (*Folder)(nil)
)

// OpenFolder scans root and returns a Folder of its images. It checks every
// image file cheaply: its format is recognised, its header decodes, its
// size is between 1×1 and MaxImagePixels, and it is not truncated (a PNG
// ends with its IEND chunk, a JPEG with its end-of-image marker, a WebP
// file is as long as its header says; a file that fails this test is
// decoded in full, so a long trailer after the image does not count
// against it). With opts.Verify it decodes every image fully. A file that
// fails makes OpenFolder fail with an error naming it, unless opts.SkipBad
// is set, in which case it is left out and listed by Skipped. Files that
// pass these checks but still fail to decode later make Get fail, naming
// the file.
//
// The files are checked on runtime.NumCPU() goroutines.
func OpenFolder(root string, opts FolderOptions) (*Folder, error) {
	if opts.Size < 1 {
		return nil, fmt.Errorf("data: OpenFolder %s: Size %d, need at least 1", root, opts.Size)
	}
	switch opts.Channels {
	case 0:
		opts.Channels = 3
	case 1, 3:
	default:
		return nil, fmt.Errorf("data: OpenFolder %s: Channels %d, need 1 or 3", root, opts.Channels)
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("data: OpenFolder: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("data: OpenFolder: %s is not a folder", root)
	}
	f := &Folder{opts: opts, short: opts.Size}
	if opts.Train {
		f.short = int(math.Round(1.125 * float64(opts.Size)))
	}
	var cands []folderFile
	if opts.Flat {
		f.classes = []string{""}
		cands, err = flatFiles(root)
	} else {
		f.classes, cands, err = classFiles(root)
	}
	if err != nil {
		return nil, fmt.Errorf("data: OpenFolder: %w", err)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("data: OpenFolder: no .jpg, .jpeg, .png or .webp files under %s", root)
	}

	errs := checkFiles(cands, opts.Verify)
	var bad []error
	for k, err := range errs {
		if err == nil {
			f.files = append(f.files, cands[k])
			continue
		}
		bad = append(bad, err)
		f.skipped = append(f.skipped, cands[k].path)
	}
	if len(bad) > 0 && !opts.SkipBad {
		more := ""
		if len(bad) > 1 {
			plural := "s"
			if len(bad) == 2 {
				plural = ""
			}
			more = fmt.Sprintf(" (and %d more bad file%s; set FolderOptions.SkipBad to skip bad files)", len(bad)-1, plural)
		}
		return nil, fmt.Errorf("data: OpenFolder: %w%s", bad[0], more)
	}
	if len(f.files) == 0 {
		return nil, fmt.Errorf("data: OpenFolder: all %d image files under %s are bad: %w", len(cands), root, bad[0])
	}
	return f, nil
}

// hidden reports whether a file or folder name starts with a dot.
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// imageName reports whether name has an image file extension.
func imageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".webp":
		return true
	}
	return false
}

// isDir reports whether the folder entry at path is a folder, following a
// symbolic link.
func isDir(path string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink != 0 {
		info, err := os.Stat(path)
		return err == nil && info.IsDir()
	}
	return e.IsDir()
}

// flatFiles lists the image files directly in root, all with label 0.
func flatFiles(root string) ([]folderFile, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []folderFile
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if hidden(e.Name()) || !imageName(e.Name()) || isDir(p, e) {
			continue
		}
		out = append(out, folderFile{path: p})
	}
	return out, nil
}

// classFiles lists the class subfolders of root in sorted order and the
// image files under each, labelled with the subfolder's index.
func classFiles(root string) (classes []string, files []folderFile, err error) {
	entries, err := os.ReadDir(root) // sorted by name
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if !hidden(e.Name()) && isDir(filepath.Join(root, e.Name()), e) {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, nil, fmt.Errorf("no class subfolders in %s (set FolderOptions.Flat for a flat folder of images)", root)
	}
	for label, name := range classes {
		dir := filepath.Join(root, name)
		// WalkDir does not descend into a symbolic link, so resolve a
		// linked class folder first.
		walkRoot, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("class folder %s: %w", dir, err)
		}
		err = filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == walkRoot {
				return nil
			}
			if hidden(d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !imageName(d.Name()) {
				return nil
			}
			rel, err := filepath.Rel(walkRoot, p)
			if err != nil {
				return err
			}
			files = append(files, folderFile{path: filepath.Join(dir, rel), label: label})
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("class folder %s: %w", dir, err)
		}
	}
	return classes, files, nil
}

// checkFiles checks every file on runtime.NumCPU() goroutines, filling in
// each one's width and height, and returns one error (nil for a good file)
// per file, each naming it.
func checkFiles(files []folderFile, verify bool) []error {
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), len(files)) {
		wg.Go(func() {
			for k := range next {
				w, h, err := checkFile(files[k].path, verify)
				if err != nil {
					errs[k] = fmt.Errorf("%s: %w", files[k].path, err)
					continue
				}
				files[k].w, files[k].h = w, h
			}
		})
	}
	for k := range files {
		next <- k
	}
	close(next)
	wg.Wait()
	return errs
}

// checkFile checks one image file as OpenFolder documents and returns its
// size.
func checkFile(path string, verify bool) (w, h int, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return 0, 0, err
	}
	br := bufio.NewReader(fh)
	head, _ := br.Peek(12)
	format := sniffFormat(head)
	cfg, err := decodeConfig(format, br)
	if err != nil {
		return 0, 0, err
	}
	if err := checkSize(format, cfg.Width, cfg.Height); err != nil {
		return 0, 0, err
	}
	// The tail check is a cheap screen: a file that fails it is decoded to
	// tell a truncated file from one with a long trailer after its end.
	tailErr := checkTail(format, fh, info.Size())
	if !verify && tailErr == nil {
		return cfg.Width, cfg.Height, nil
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	m, err := decodeImage(format, bufio.NewReader(fh))
	if err != nil {
		if tailErr != nil {
			return 0, 0, fmt.Errorf("%w; %w", tailErr, err)
		}
		return 0, 0, err
	}
	if b := m.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return 0, 0, fmt.Errorf("%s header says %d×%d, image decodes to %d×%d", format, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return cfg.Width, cfg.Height, nil
}

// checkSize rejects empty and oversized images.
func checkSize(format string, w, h int) error {
	if w < 1 || h < 1 {
		return fmt.Errorf("empty %d×%d %s image", w, h, format)
	}
	if int64(w)*int64(h) > MaxImagePixels {
		return fmt.Errorf("%d×%d %s image exceeds MaxImagePixels (%d)", w, h, format, MaxImagePixels)
	}
	return nil
}

// Len returns the number of images.
func (f *Folder) Len() int { return len(f.files) }

// Shape returns Channels, Size, Size.
func (f *Folder) Shape() (c, h, w int) { return f.opts.Channels, f.opts.Size, f.opts.Size }

// Classes returns the class names, index = label: the sorted subfolder
// names, or one empty name for a flat folder. The slice is shared: do not
// modify it.
func (f *Folder) Classes() []string { return f.classes }

// Labels returns a copy of every image's label, in order, without decoding
// any image.
func (f *Folder) Labels() []int {
	out := make([]int, len(f.files))
	for i, file := range f.files {
		out[i] = file.label
	}
	return out
}

// Path returns the file of image i. It panics if i is out of range.
func (f *Folder) Path(i int) string { return f.files[i].path }

// Skipped returns the files OpenFolder left out because of
// FolderOptions.SkipBad, in scan order; len(Skipped()) is how many. The
// slice is a copy.
func (f *Folder) Skipped() []string { return slices.Clone(f.skipped) }

// Get returns image i as a freshly allocated Channels×Size×Size image and
// its label. In training mode its crop and flip are those of epoch 0; see
// AtEpoch.
func (f *Folder) Get(i int) (img []float32, label int, err error) {
	c, h, w := f.Shape()
	img = make([]float32, c*h*w)
	label, err = f.Fill(i, img)
	if err != nil {
		return nil, 0, err
	}
	return img, label, nil
}

// Fill decodes image i into dst, which must hold exactly Channels*Size*Size
// values, and returns its label. In training mode its crop and flip are
// those of epoch 0; see AtEpoch.
func (f *Folder) Fill(i int, dst []float32) (label int, err error) {
	return f.FillRand(i, dst, nil)
}

// FillRand is Fill with the training crop and flip drawn from rng, in this
// order: the window's left edge, its top edge (each rng.IntN of the number
// of positions), then the flip (rng.IntN(2) == 1). In evaluation mode rng
// is not used. A nil rng means that of epoch 0, as Fill uses.
//
// Given the source that a Loader whose LoaderOptions.Seed equals Seed
// hands to Augment for image i in an epoch, FillRand gives what
// AtEpoch(epoch).Fill does.
func (f *Folder) FillRand(i int, dst []float32, rng *rand.Rand) (label int, err error) {
	if i < 0 || i >= len(f.files) {
		return 0, fmt.Errorf("data: folder image index %d out of range [0, %d)", i, len(f.files))
	}
	file := f.files[i]
	c, size := f.opts.Channels, f.opts.Size
	if len(dst) != c*size*size {
		return 0, fmt.Errorf("data: folder image %d (%s): buffer holds %d values, want %d×%d×%d = %d", i, file.path, len(dst), c, size, size, c*size*size)
	}
	if rng == nil && f.opts.Train {
		rng = f.epochRand(0, i)
	}
	if err := f.decodeInto(file, dst, rng); err != nil {
		return 0, fmt.Errorf("data: folder image %d (%s): %w", i, file.path, err)
	}
	return file.label, nil
}

// decodeInto reads, decodes, resizes and crops one file into dst.
func (f *Folder) decodeInto(file folderFile, dst []float32, rng *rand.Rand) error {
	raw, err := os.ReadFile(file.path)
	if err != nil {
		return err
	}
	format := sniffFormat(raw)
	m, err := decodeImage(format, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	b := m.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw != file.w || sh != file.h {
		return fmt.Errorf("file changed since OpenFolder: %s image is now %d×%d, was %d×%d", format, sw, sh, file.w, file.h)
	}
	planes, nc := toPlanes(m, format == formatWebP)
	if nc == 3 && f.opts.Channels == 1 {
		planes, nc = luma(planes, sw*sh), 1
	}

	size := f.opts.Size
	rw, rh := f.short, f.short
	if sw < sh {
		rh = max(f.short, int(math.Round(float64(sh)*float64(f.short)/float64(sw))))
	} else {
		rw = max(f.short, int(math.Round(float64(sw)*float64(f.short)/float64(sh))))
	}
	x0, y0, flip := (rw-size)/2, (rh-size)/2, false
	if f.opts.Train {
		x0 = rng.IntN(rw - size + 1)
		y0 = rng.IntN(rh - size + 1)
		flip = rng.IntN(2) == 1
	}
	resizeCrop(dst, planes, nc, sw, sh, rw, rh, x0, y0, size, flip)
	if nc == 1 && f.opts.Channels == 3 {
		ss := size * size
		copy(dst[ss:2*ss], dst[:ss])
		copy(dst[2*ss:], dst[:ss])
	}
	return nil
}

// epochRand returns the random source for image i in epoch: the same one a
// Loader with LoaderOptions.Seed equal to FolderOptions.Seed hands to
// Augment.
func (f *Folder) epochRand(epoch, i int) *rand.Rand {
	s := mix(f.opts.Seed, uint64(epoch))
	return rand.New(rand.NewPCG(s, mix(s, uint64(i))))
}

// AtEpoch returns a view of f, sharing its files, whose Get and Fill give
// the training crops and flips of the given epoch: image i's are drawn from
// a source seeded by (Seed, epoch, i), so they do not depend on the order
// or the goroutine images are decoded in. AtEpoch(0) decodes like f. In
// evaluation mode every epoch gives the same images.
//
// With a Loader that does not pass its own random source to FillRand, make
// one Loader per epoch over f.AtEpoch(epoch) (Loaders are cheap) to get
// fresh crops every epoch.
func (f *Folder) AtEpoch(epoch int) Dataset { return &folderEpoch{f: f, epoch: epoch} }

// folderEpoch is a Folder whose random crops are those of one epoch.
type folderEpoch struct {
	f     *Folder
	epoch int
}

var (
	_ Dataset = (*folderEpoch)(nil)
	_ Filler  = (*folderEpoch)(nil)
)

func (v *folderEpoch) Len() int             { return v.f.Len() }
func (v *folderEpoch) Shape() (c, h, w int) { return v.f.Shape() }
func (v *folderEpoch) Classes() []string    { return v.f.Classes() }

func (v *folderEpoch) Get(i int) ([]float32, int, error) {
	c, h, w := v.f.Shape()
	img := make([]float32, c*h*w)
	label, err := v.Fill(i, img)
	if err != nil {
		return nil, 0, err
	}
	return img, label, nil
}

func (v *folderEpoch) Fill(i int, dst []float32) (int, error) {
	return v.f.FillRand(i, dst, v.f.epochRand(v.epoch, i))
}
