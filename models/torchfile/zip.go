package torchfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
)

// maxRecord is the largest zip record read into memory (data.pkl, or one
// storage).
const maxRecord = 1 << 40

// readZip reads a checkpoint in torch.save's zip format.
func readZip(r io.ReaderAt, size int64) (map[string]Tensor, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, formatErr("", "not a valid zip archive: %v", err)
	}
	records := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if _, dup := records[f.Name]; dup {
			return nil, formatErr("", "zip archive has two records named %q", f.Name)
		}
		records[f.Name] = f
	}
	prefix, err := archivePrefix(zr.File, records)
	if err != nil {
		return nil, err
	}

	bigEndian := false
	if f, ok := records[prefix+"byteorder"]; ok {
		b, err := readRecord(f, size, 16)
		if err != nil {
			return nil, err
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			bigEndian = true
		default:
			return nil, formatErr("", "record %s: unknown byte order %q", f.Name, b)
		}
	}

	pkl, err := readRecord(records[prefix+"data.pkl"], size, maxRecord)
	if err != nil {
		return nil, err
	}
	raw, err := scanPickle(bytes.NewReader(pkl), int64(len(pkl)), "data.pkl", allowedGlobal)
	if err != nil {
		return nil, err
	}
	var table storageTable
	root, err := unpickle(raw, "data.pkl", func(pid any) (any, error) {
		_, typ, key, numel, err := storageID(pid, 5)
		if err != nil {
			return nil, err
		}
		st, err := table.get(key, typ, numel)
		if err != nil {
			return nil, err
		}
		return &storageView{st: st, numel: st.numel}, nil
	})
	if err != nil {
		return nil, err
	}
	refs, err := flatten(root)
	if err != nil {
		return nil, err
	}
	return materialize(refs, func(st *storage) error {
		return loadZipStorage(st, records, prefix, size, bigEndian)
	})
}

// archivePrefix returns the folder, with its trailing slash, that holds the
// archive's data.pkl. torch.save names it after the file (older releases)
// or "archive" (newer ones); like torch.load, this prefers the folder of
// the first record.
func archivePrefix(files []*zip.File, records map[string]*zip.File) (string, error) {
	var candidates []string
	for _, f := range files {
		dir, base, ok := strings.Cut(f.Name, "/")
		if ok && base == "data.pkl" {
			candidates = append(candidates, dir+"/")
		}
	}
	if len(candidates) == 0 {
		return "", formatErr("", "zip archive has no <name>/data.pkl record: not a torch.save file")
	}
	prefix := candidates[0]
	if len(files) > 0 {
		if dir, _, ok := strings.Cut(files[0].Name, "/"); ok {
			if _, has := records[dir+"/data.pkl"]; has {
				prefix = dir + "/"
			}
		}
	}
	if _, ok := records[prefix+"constants.pkl"]; ok {
		return "", formatErr("", "zip archive is a TorchScript module (torch.jit.save), not a torch.save file")
	}
	return prefix, nil
}

// readRecord reads a whole zip record of at most max bytes, checking its
// CRC-32. fileSize bounds what an uncompressed record can claim.
func readRecord(f *zip.File, fileSize, max int64) ([]byte, error) {
	n := f.UncompressedSize64
	if n > uint64(max) {
		return nil, formatErr("", "record %s is %d bytes, more than the %d expected", f.Name, n, max)
	}
	if f.Method == zip.Store && (f.CompressedSize64 != n || n > uint64(fileSize)) {
		return nil, formatErr("", "record %s: stored size %d and size %d disagree or exceed the file's %d bytes",
			f.Name, f.CompressedSize64, n, fileSize)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, formatErr("", "record %s: %v", f.Name, err)
	}
	defer rc.Close()
	var buf []byte
	if f.Method == zip.Store {
		buf = make([]byte, n)
		if _, err = io.ReadFull(rc, buf); err == nil {
			// Read on to the end so the reader checks the CRC-32.
			var one [1]byte
			var k int
			if k, err = rc.Read(one[:]); k != 0 {
				err = errors.New("longer than its header says")
			} else if err == io.EOF {
				err = nil
			}
		}
	} else {
		// Compressed records (torch.save writes none) grow as they
		// decompress, so memory follows the real data, not the header.
		buf, err = io.ReadAll(rc)
	}
	if err != nil {
		return nil, formatErr("", "record %s: %v", f.Name, err)
	}
	if uint64(len(buf)) != n {
		return nil, formatErr("", "record %s: read %d bytes, header says %d", f.Name, len(buf), n)
	}
	return buf, nil
}

// loadZipStorage reads st from its record <prefix>data/<key>.
func loadZipStorage(st *storage, records map[string]*zip.File, prefix string, fileSize int64, bigEndian bool) error {
	es := int64(st.typ.size)
	if st.numel > (1<<62)/es {
		return formatErr("", "storage %q: %d elements is too many", st.key, st.numel)
	}
	need := st.numel * es
	name := prefix + "data/" + st.key
	f, ok := records[name]
	if !ok {
		if need == 0 {
			st.data = []byte{}
			return nil
		}
		return formatErr("", "storage %q: the archive has no record %s", st.key, name)
	}
	if f.UncompressedSize64 < uint64(need) {
		return formatErr("", "storage %q: record %s holds %d bytes, but %d elements of %s need %d",
			st.key, name, f.UncompressedSize64, st.numel, st.typ.class, need)
	}
	data, err := readRecord(f, fileSize, maxRecord)
	if err != nil {
		return err
	}
	st.data = data[:need]
	if bigEndian {
		swapBytes(st.data, int(es))
	}
	return nil
}

// swapBytes reverses the bytes of each es-byte element of b in place.
func swapBytes(b []byte, es int) {
	if es == 1 {
		return
	}
	for i := 0; i+es <= len(b); i += es {
		e := b[i : i+es]
		for j, k := 0, es-1; j < k; j, k = j+1, k-1 {
			e[j], e[k] = e[k], e[j]
		}
	}
}
