package checkpoint

import (
	"encoding"
	"encoding/binary"
	"fmt"
)

// EncodeRNG packs the states of host random generators (math/rand/v2's
// *PCG and *ChaCha8 implement encoding.BinaryMarshaler) into words for
// State.RNG: for each, its byte length, then its bytes eight to a word,
// little-endian.
func EncodeRNG(srcs ...encoding.BinaryMarshaler) ([]uint64, error) {
	var words []uint64
	for i, s := range srcs {
		b, err := s.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("checkpoint: RNG %d: %w", i, err)
		}
		words = append(words, uint64(len(b)))
		for len(b) > 0 {
			var w [8]byte
			n := copy(w[:], b)
			b = b[n:]
			words = append(words, binary.LittleEndian.Uint64(w[:]))
		}
	}
	return words, nil
}

// DecodeRNG restores generators, in the order EncodeRNG was given them,
// from its words. The words must hold exactly that many generators.
func DecodeRNG(words []uint64, dsts ...encoding.BinaryUnmarshaler) error {
	for i, d := range dsts {
		if len(words) == 0 {
			return fmt.Errorf("checkpoint: RNG words hold %d generators, want %d", i, len(dsts))
		}
		n := words[0]
		if n > 8*uint64(len(words)-1) {
			return fmt.Errorf("checkpoint: RNG %d: %d bytes, only %d words left", i, n, len(words)-1)
		}
		nw := (n + 7) / 8
		b := make([]byte, 0, 8*nw)
		for _, w := range words[1 : 1+nw] {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
		if err := d.UnmarshalBinary(b[:n]); err != nil {
			return fmt.Errorf("checkpoint: RNG %d: %w", i, err)
		}
		words = words[1+nw:]
	}
	if len(words) != 0 {
		return fmt.Errorf("checkpoint: %d RNG words left over after %d generators", len(words), len(dsts))
	}
	return nil
}
