package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Checkpoint file names are step-%08d.safetensors.
const (
	namePrefix = "step-"
	nameSuffix = ".safetensors"
)

// Path returns the checkpoint path for step in dir: dir/step-%08d.safetensors.
func Path(dir string, step int) string {
	return filepath.Join(dir, fmt.Sprintf("%s%08d%s", namePrefix, step, nameSuffix))
}

// entry is one checkpoint file found in a directory.
type entry struct {
	name string
	step int
}

// list returns dir's checkpoint files, oldest step first. A missing
// directory has none. Other files (including Save's temporary files, which
// start with a dot) are ignored.
func list(dir string) ([]entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var out []entry
	for _, de := range des {
		name := de.Name()
		digits, ok := strings.CutPrefix(name, namePrefix)
		if !ok {
			continue
		}
		if digits, ok = strings.CutSuffix(digits, nameSuffix); !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		step, err := strconv.Atoi(digits)
		if err != nil || !de.Type().IsRegular() && de.Type()&fs.ModeSymlink == 0 {
			continue // out of range, or a directory
		}
		out = append(out, entry{name, step})
	}
	slices.SortFunc(out, func(a, b entry) int {
		if a.step != b.step {
			return a.step - b.step
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

// Latest returns the checkpoint with the highest step in dir (files named
// step-<digits>.safetensors, as Path makes them) and its step. With none,
// or no dir at all, it returns "" and a nil error: start from scratch.
func Latest(dir string) (path string, step int, err error) {
	es, err := list(dir)
	if err != nil || len(es) == 0 {
		return "", 0, err
	}
	last := es[len(es)-1]
	return filepath.Join(dir, last.name), last.step, nil
}

// Keep deletes all but the n checkpoints with the highest steps in dir.
// n must be at least 1, so the newest checkpoint always survives. Files
// that are not checkpoints are left alone.
func Keep(dir string, n int) error {
	if n < 1 {
		return fmt.Errorf("checkpoint: Keep(%q, %d): must keep at least one checkpoint", dir, n)
	}
	es, err := list(dir)
	if err != nil {
		return err
	}
	for _, e := range es[:max(0, len(es)-n)] {
		if err := os.Remove(filepath.Join(dir, e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}
