package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tessera-ml/tessera/models/safetensors"
)

// LoadReport says what loading a checkpoint into a module did.
type LoadReport struct {
	Loaded     []string // names set from the checkpoint
	Missing    []string // module parameters the checkpoint lacks
	Unexpected []string // checkpoint tensors the module lacks
	Mismatched []string // "name: checkpoint [..] vs module [..]"
}

// Err summarises the problems that make a strict load fail, or nil.
func (r LoadReport) Err() error {
	var parts []string
	if len(r.Mismatched) > 0 {
		parts = append(parts, "shape mismatches: "+strings.Join(r.Mismatched, "; "))
	}
	if len(r.Missing) > 0 {
		parts = append(parts, "missing from the checkpoint: "+strings.Join(r.Missing, ", "))
	}
	if len(r.Unexpected) > 0 {
		parts = append(parts, "not in the model: "+strings.Join(r.Unexpected, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("nn: checkpoint does not fit the model: %s", strings.Join(parts, "; "))
}

// LoadOptions control LoadTensors.
type LoadOptions struct {
	// Strict fails on missing, unexpected or mis-shaped tensors; otherwise
	// only mis-shaped ones fail and the rest is reported.
	Strict bool
	// Rename maps a checkpoint name to the module's name ("" drops the
	// tensor); nil keeps names as they are.
	Rename func(name string) string
}

// LoadTensors sets m's parameters from the tensors of a safetensors file,
// matching by name and converting F16/BF16 to float32.
func LoadTensors(m Module, f *safetensors.File, opts LoadOptions) (LoadReport, error) {
	var rep LoadReport
	params := map[string]Param{}
	for _, p := range m.Params() {
		params[p.Name] = p
	}
	seen := map[string]bool{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		name := t.Name
		if opts.Rename != nil {
			name = opts.Rename(name)
			if name == "" {
				continue
			}
		}
		p, ok := params[name]
		if !ok {
			rep.Unexpected = append(rep.Unexpected, t.Name)
			continue
		}
		seen[name] = true
		want := p.Var.Shape()
		if !sameInts(want, t.Shape) {
			rep.Mismatched = append(rep.Mismatched, fmt.Sprintf("%s: checkpoint %v vs model %v", t.Name, t.Shape, want))
			continue
		}
		vals, err := t.Float32()
		if err != nil {
			return rep, fmt.Errorf("nn: tensor %s: %w", t.Name, err)
		}
		if err := p.Var.Value.Write(vals); err != nil {
			return rep, fmt.Errorf("nn: loading %s: %w", t.Name, err)
		}
		rep.Loaded = append(rep.Loaded, name)
	}
	for name := range params {
		if !seen[name] {
			rep.Missing = append(rep.Missing, name)
		}
	}
	sort.Strings(rep.Missing)
	sort.Strings(rep.Unexpected)
	if len(rep.Mismatched) > 0 || (opts.Strict && (len(rep.Missing) > 0 || len(rep.Unexpected) > 0)) {
		return rep, rep.Err()
	}
	return rep, nil
}

// Tensors reads m's parameters to the host as safetensors tensors stored
// as dtype (F32, F16 or BF16), named as Params names them.
func Tensors(m Module, dtype safetensors.DType) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, p := range m.Params() {
		vals, err := p.Var.Value.Float32()
		if err != nil {
			return nil, fmt.Errorf("nn: reading %s: %w", p.Name, err)
		}
		t, err := safetensors.Float32Tensor(p.Name, p.Var.Shape(), vals, dtype)
		if err != nil {
			return nil, fmt.Errorf("nn: encoding %s: %w", p.Name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Save writes m's parameters to a safetensors file, atomically.
func Save(path string, m Module, dtype safetensors.DType, metadata map[string]string) error {
	ts, err := Tensors(m, dtype)
	if err != nil {
		return err
	}
	return safetensors.WriteFile(path, ts, metadata)
}

// Load reads a safetensors file into m.
func Load(path string, m Module, opts LoadOptions) (LoadReport, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return LoadReport{}, err
	}
	rep, err := LoadTensors(m, f, opts)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
