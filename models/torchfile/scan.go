package torchfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Limits the pickle scanner enforces. Real state-dict pickles come nowhere
// near them; they bound the memory a hostile pickle can make the unpickler
// use.
const (
	// maxLine is the longest newline-terminated opcode argument accepted.
	maxLine = 1 << 16
	// maxMarkDepth is the deepest nesting of MARKs accepted.
	maxMarkDepth = 1 << 12
)

// byteReader is what the scanner reads a pickle from.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// scanner walks the opcodes of one pickle without building anything,
// copying the bytes it consumes. It checks that every length argument fits
// in what is left of the file (so the unpickler never allocates for data
// that is not there), that every opcode is known, and that every global the
// pickle references, by GLOBAL, INST or STACK_GLOBAL, is allowed.
type scanner struct {
	r     byteReader
	left  int64 // bytes left in the file from the scanner's position
	buf   []byte
	what  string // names the pickle in errors, e.g. "data.pkl"
	allow func(module, name string) bool

	// STACK_GLOBAL takes its module and name from the stack, so the scanner
	// tracks which strings the most recent opcodes pushed, and which
	// strings the memo holds, mirroring the unpickler.
	recent []strVal       // results of the latest run of pushes (top last)
	memo   map[int]strVal // memo slots, string or not
}

// strVal is a value the scanner knows to be a given string (ok) or knows
// nothing about.
type strVal struct {
	s  string
	ok bool
}

// scanPickle reads one pickle from r, which has left bytes before the end
// of the file, and returns its bytes, through the STOP opcode. allow says
// which globals may be referenced (nil allows none).
func scanPickle(r byteReader, left int64, what string, allow func(module, name string) bool) ([]byte, error) {
	s := &scanner{r: r, left: left, what: what, allow: allow, memo: make(map[int]strVal)}
	if err := s.run(); err != nil {
		return nil, err
	}
	return s.buf, nil
}

// errorf returns a *FormatError about the pickle, at offset off within it.
func (s *scanner) errorf(off int, format string, args ...any) error {
	return formatErr("", "%s: offset %d: %s", s.what, off, fmt.Sprintf(format, args...))
}

// take reads n bytes, after checking they are in the file.
func (s *scanner) take(n int64, op byte, off int) ([]byte, error) {
	if n < 0 || n > s.left {
		return nil, s.errorf(off, "opcode %#02x needs %d bytes but the file has %d left", op, n, s.left)
	}
	start := len(s.buf)
	s.buf = slices.Grow(s.buf, int(n))[:start+int(n)]
	if _, err := io.ReadFull(s.r, s.buf[start:]); err != nil {
		return nil, fmt.Errorf("%s: offset %d: read: %w", s.what, off, err)
	}
	s.left -= n
	return s.buf[start:], nil
}

// line reads a newline-terminated argument and returns it without the
// newline.
func (s *scanner) line(op byte, off int) (string, error) {
	start := len(s.buf)
	for {
		if s.left == 0 {
			return "", s.errorf(off, "opcode %#02x: file ends inside its newline-terminated argument", op)
		}
		if len(s.buf)-start >= maxLine {
			return "", s.errorf(off, "opcode %#02x: argument longer than %d bytes", op, maxLine)
		}
		b, err := s.r.ReadByte()
		if err != nil {
			return "", fmt.Errorf("%s: offset %d: read: %w", s.what, off, err)
		}
		s.left--
		s.buf = append(s.buf, b)
		if b == '\n' {
			return string(s.buf[start : len(s.buf)-1]), nil
		}
	}
}

// u32 and u64 read little-endian unsigned arguments.
func (s *scanner) u32(op byte, off int) (int64, error) {
	b, err := s.take(4, op, off)
	if err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint32(b)), nil
}

func (s *scanner) u64(op byte, off int) (int64, error) {
	b, err := s.take(8, op, off)
	if err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(b)
	if v > uint64(s.left) {
		return 0, s.errorf(off, "opcode %#02x: length %d is more than the %d bytes left in the file", op, v, s.left)
	}
	return int64(v), nil
}

// checkGlobal returns a *GlobalError unless module.name is allowed.
func (s *scanner) checkGlobal(module, name string) error {
	if s.allow == nil || !s.allow(module, name) {
		return &GlobalError{Module: module, Name: name}
	}
	return nil
}

// push records that an opcode pushed one value; reset that it changed the
// stack some other way (the top is then unknown).
func (s *scanner) push(v strVal) {
	if len(s.recent) == 2 {
		s.recent[0] = s.recent[1]
		s.recent = s.recent[:1]
	}
	s.recent = append(s.recent, v)
}

func (s *scanner) reset() { s.recent = append(s.recent[:0], strVal{}) }

// memoize records that memo slot i now holds the top of the stack.
func (s *scanner) memoize(i int) {
	var v strVal
	if n := len(s.recent); n > 0 {
		v = s.recent[n-1]
	}
	s.memo[i] = v
}

// run scans opcodes up to and including STOP.
func (s *scanner) run() error {
	depth := 0
	for {
		off := len(s.buf)
		b, err := s.take(1, 0, off)
		if err != nil {
			return s.errorf(off, "file ends before the pickle's STOP opcode")
		}
		op := b[0]
		switch op {
		case '.': // STOP
			return nil

		// Opcodes that push a string.
		case 'S', 'V': // STRING, UNICODE
			l, err := s.line(op, off)
			if err != nil {
				return err
			}
			if op == 'S' {
				if len(l) < 2 || l[0] != l[len(l)-1] || (l[0] != '\'' && l[0] != '"') {
					return s.errorf(off, "STRING argument is not quoted")
				}
				l = l[1 : len(l)-1]
			}
			s.push(strVal{l, true})
		case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			n, err := s.take(1, op, off)
			if err != nil {
				return err
			}
			d, err := s.take(int64(n[0]), op, off)
			if err != nil {
				return err
			}
			s.push(strVal{string(d), op != 'C'})
		case 'T', 'B', 'X': // BINSTRING, BINBYTES, BINUNICODE
			n, err := s.u32(op, off)
			if err != nil {
				return err
			}
			if op == 'T' && n >= 1<<31 {
				return s.errorf(off, "BINSTRING has a negative length")
			}
			d, err := s.take(n, op, off)
			if err != nil {
				return err
			}
			s.push(strVal{string(d), op != 'B'})
		case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
			n, err := s.u64(op, off)
			if err != nil {
				return err
			}
			d, err := s.take(n, op, off)
			if err != nil {
				return err
			}
			s.push(strVal{string(d), op == 0x8d})

		// Memo.
		case 'g': // GET
			l, err := s.line(op, off)
			if err != nil {
				return err
			}
			i, err := strconv.Atoi(l)
			if err != nil {
				return s.errorf(off, "GET index %q is not an integer", l)
			}
			s.push(s.memo[i])
		case 'h': // BINGET
			i, err := s.take(1, op, off)
			if err != nil {
				return err
			}
			s.push(s.memo[int(i[0])])
		case 'j': // LONG_BINGET
			i, err := s.u32(op, off)
			if err != nil {
				return err
			}
			s.push(s.memo[int(i)])
		case 'p': // PUT
			l, err := s.line(op, off)
			if err != nil {
				return err
			}
			i, err := strconv.Atoi(l)
			if err != nil || i < 0 {
				return s.errorf(off, "PUT index %q is not a non-negative integer", l)
			}
			s.memoize(i)
		case 'q': // BINPUT
			i, err := s.take(1, op, off)
			if err != nil {
				return err
			}
			s.memoize(int(i[0]))
		case 'r': // LONG_BINPUT
			i, err := s.u32(op, off)
			if err != nil {
				return err
			}
			s.memoize(int(i))
		case 0x94: // MEMOIZE
			s.memoize(len(s.memo))

		// Globals.
		case 'c', 'i': // GLOBAL, INST
			module, err := s.line(op, off)
			if err != nil {
				return err
			}
			name, err := s.line(op, off)
			if err != nil {
				return err
			}
			if err := s.checkGlobal(module, name); err != nil {
				return err
			}
			if op == 'i' {
				depth--
			}
			s.reset()
		case 0x93: // STACK_GLOBAL
			if len(s.recent) < 2 || !s.recent[0].ok || !s.recent[1].ok {
				return s.errorf(off, "STACK_GLOBAL whose module and name are not strings pushed just before it")
			}
			if err := s.checkGlobal(s.recent[0].s, s.recent[1].s); err != nil {
				return err
			}
			s.reset()

		// Framing and protocol: no effect on the stack.
		case 0x80: // PROTO
			v, err := s.take(1, op, off)
			if err != nil {
				return err
			}
			if v[0] > 5 {
				return s.errorf(off, "unsupported pickle protocol %d", v[0])
			}
		case 0x95: // FRAME
			if _, err := s.u64(op, off); err != nil {
				return err
			}

		// Numbers.
		case 'I', 'L', 'F': // INT, LONG, FLOAT
			if _, err := s.line(op, off); err != nil {
				return err
			}
			s.push(strVal{})
		case 'K': // BININT1
			if _, err := s.take(1, op, off); err != nil {
				return err
			}
			s.push(strVal{})
		case 'M': // BININT2
			if _, err := s.take(2, op, off); err != nil {
				return err
			}
			s.push(strVal{})
		case 'J': // BININT
			if _, err := s.take(4, op, off); err != nil {
				return err
			}
			s.push(strVal{})
		case 'G': // BINFLOAT
			if _, err := s.take(8, op, off); err != nil {
				return err
			}
			s.push(strVal{})
		case 0x8a: // LONG1
			n, err := s.take(1, op, off)
			if err != nil {
				return err
			}
			if _, err := s.take(int64(n[0]), op, off); err != nil {
				return err
			}
			s.push(strVal{})
		case 0x8b: // LONG4
			n, err := s.u32(op, off)
			if err != nil {
				return err
			}
			if n >= 1<<31 {
				return s.errorf(off, "LONG4 has a negative length")
			}
			if _, err := s.take(n, op, off); err != nil {
				return err
			}
			s.push(strVal{})

		// Persistent IDs (storages).
		case 'P': // PERSID
			if _, err := s.line(op, off); err != nil {
				return err
			}
			s.reset()

		// Extension registry: never used by torch.save, refused here.
		case 0x82, 0x83, 0x84:
			return s.errorf(off, "extension-registry opcode %#02x is not supported", op)

		// MARK and the opcodes that pop back to it.
		case '(': // MARK
			depth++
			if depth > maxMarkDepth {
				return s.errorf(off, "MARKs nested more than %d deep", maxMarkDepth)
			}
			s.recent = s.recent[:0]
		case 't', 'l', 'd', 0x91, 'e', 'u', 0x90, '1', 'o':
			// TUPLE, LIST, DICT, FROZENSET, APPENDS, SETITEMS, ADDITEMS,
			// POP_MARK, OBJ
			depth--
			s.reset()

		// Other opcodes without arguments.
		case 'N', 0x88, 0x89, ')', ']', '}', 0x8f: // NONE, NEWTRUE, NEWFALSE, EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT, EMPTY_SET
			s.push(strVal{})
		case '0', '2', 'Q', 'R', 'b', 'a', 's', 0x85, 0x86, 0x87, 0x81, 0x92, 0x97, 0x98:
			// POP, DUP, BINPERSID, REDUCE, BUILD, APPEND, SETITEM, TUPLE1,
			// TUPLE2, TUPLE3, NEWOBJ, NEWOBJ_EX, NEXT_BUFFER, READONLY_BUFFER
			s.reset()

		default:
			return s.errorf(off, "unknown pickle opcode %#02x", op)
		}
	}
}
