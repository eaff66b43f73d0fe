package coda

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/models/safetensors"
)

// Token files are safetensors files with one int32 tensor per level,
// "level.<i>" of shape [N, p_i, p_i] (i from 0, coarse to fine), and the
// metadata
//
//	tessera.format      "coda-tokens"
//	tessera.version     "1"
//	coda.config_hash    the tokenizer's Config.Hash()
//	coda.codes          the codebook size V
//	coda.scales         the scales, comma-separated ("1,2,3,4,5,7")
//
// plus any caller metadata (the source data, the seed, ...). Any
// safetensors reader opens them; ReadTokens checks them.
const (
	tokensFormat  = "coda-tokens"
	tokensVersion = "1"
)

// Tokens are token ids of N images at every level of one tokenizer.
type Tokens struct {
	ConfigHash string
	Codes      int
	Scales     []int
	N          int
	// Levels[i] holds N·p_i² ids, image-major then row-major.
	Levels   [][]int32
	Metadata map[string]string
}

// NewTokens returns empty tokens (N = 0) for t's configuration.
func (t *Tokenizer) NewTokens() *Tokens {
	return &Tokens{ConfigHash: t.Cfg.Hash(), Codes: t.Cfg.Quant.Codes, Scales: slices.Clone(t.Cfg.Quant.Scales), Levels: make([][]int32, len(t.Cfg.Quant.Scales))}
}

// Append adds the ids of n more images, one slice per level.
func (tk *Tokens) Append(n int, levels [][]int32) error {
	if len(levels) != len(tk.Scales) {
		return fmt.Errorf("coda: %d levels of ids for a %d-level tokenizer", len(levels), len(tk.Scales))
	}
	for i, ids := range levels {
		if len(ids) != n*tk.Scales[i]*tk.Scales[i] {
			return fmt.Errorf("coda: level %d has %d ids, want %d for %d images", i, len(ids), n*tk.Scales[i]*tk.Scales[i], n)
		}
	}
	for i, ids := range levels {
		tk.Levels[i] = append(tk.Levels[i], ids...)
	}
	tk.N += n
	return nil
}

// Image returns image k's ids per level (views into tk).
func (tk *Tokens) Image(k int) [][]int32 {
	out := make([][]int32, len(tk.Scales))
	for i, p := range tk.Scales {
		out[i] = tk.Levels[i][k*p*p : (k+1)*p*p]
	}
	return out
}

// WriteTokens writes tk to path (see the layout above).
func WriteTokens(path string, tk *Tokens) error {
	meta := map[string]string{}
	for k, v := range tk.Metadata {
		meta[k] = v
	}
	sc := make([]string, len(tk.Scales))
	for i, p := range tk.Scales {
		sc[i] = strconv.Itoa(p)
	}
	meta["tessera.format"] = tokensFormat
	meta["tessera.version"] = tokensVersion
	meta["coda.config_hash"] = tk.ConfigHash
	meta["coda.codes"] = strconv.Itoa(tk.Codes)
	meta["coda.scales"] = strings.Join(sc, ",")
	ts := make([]safetensors.Tensor, len(tk.Scales))
	for i, p := range tk.Scales {
		data := make([]byte, 4*len(tk.Levels[i]))
		for j, v := range tk.Levels[i] {
			binary.LittleEndian.PutUint32(data[4*j:], uint32(v))
		}
		ts[i] = safetensors.Tensor{Name: fmt.Sprintf("level.%d", i), DType: safetensors.I32, Shape: []int{tk.N, p, p}, Data: data}
	}
	if err := safetensors.WriteFile(path, ts, meta); err != nil {
		return fmt.Errorf("coda: writing tokens: %w", err)
	}
	return nil
}

// ReadTokens reads a token file, checking its layout and that every id
// is inside the codebook.
func ReadTokens(path string) (*Tokens, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("coda: reading tokens: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("coda: %s is not a token file: %s", path, fmt.Sprintf(format, args...))
	}
	m := f.Metadata
	if m["tessera.format"] != tokensFormat {
		return nil, bad("metadata tessera.format is %q, want %q", m["tessera.format"], tokensFormat)
	}
	if m["tessera.version"] != tokensVersion {
		return nil, bad("version %q (this build reads %s)", m["tessera.version"], tokensVersion)
	}
	tk := &Tokens{ConfigHash: m["coda.config_hash"], Metadata: map[string]string{}}
	if tk.Codes, err = strconv.Atoi(m["coda.codes"]); err != nil || tk.Codes < 1 {
		return nil, bad("coda.codes %q", m["coda.codes"])
	}
	for _, s := range strings.Split(m["coda.scales"], ",") {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 {
			return nil, bad("coda.scales %q", m["coda.scales"])
		}
		tk.Scales = append(tk.Scales, p)
	}
	for k, v := range m {
		if !strings.HasPrefix(k, "tessera.") && !strings.HasPrefix(k, "coda.") {
			tk.Metadata[k] = v
		}
	}
	if len(f.Tensors) != len(tk.Scales) {
		return nil, bad("%d tensors for %d levels", len(f.Tensors), len(tk.Scales))
	}
	tk.Levels = make([][]int32, len(tk.Scales))
	for i, p := range tk.Scales {
		name := fmt.Sprintf("level.%d", i)
		t, ok := f.Get(name)
		if !ok {
			return nil, bad("no tensor %s", name)
		}
		if t.DType != safetensors.I32 || len(t.Shape) != 3 || t.Shape[1] != p || t.Shape[2] != p {
			return nil, bad("%s is %s %v, want I32 [N, %d, %d]", name, t.DType, t.Shape, p, p)
		}
		if i == 0 {
			tk.N = t.Shape[0]
		} else if t.Shape[0] != tk.N {
			return nil, bad("%s holds %d images, level.0 %d", name, t.Shape[0], tk.N)
		}
		ids := make([]int32, len(t.Data)/4)
		for j := range ids {
			v := int32(binary.LittleEndian.Uint32(t.Data[4*j:]))
			if v < 0 || int(v) >= tk.Codes {
				return nil, bad("%s holds id %d outside the codebook [0, %d)", name, v, tk.Codes)
			}
			ids[j] = v
		}
		tk.Levels[i] = ids
	}
	return tk, nil
}

// CheckTokens reports an error unless tk was made by a tokenizer with t's
// configuration.
func (t *Tokenizer) CheckTokens(tk *Tokens) error {
	if h := t.Cfg.Hash(); tk.ConfigHash != h {
		return fmt.Errorf("coda: the tokens were made by tokenizer config %s, this tokenizer is %s", tk.ConfigHash, h)
	}
	return nil
}
