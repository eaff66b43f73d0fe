package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/shlex"
)

// MaxFlagFileDepth is how deeply @file arguments may nest: a file named on
// the command line is depth 1, a file it names is depth 2, and so on.
const MaxFlagFileDepth = 8

// ErrFlagFileCycle is wrapped by the error [ExpandArgs] returns when an
// @file names itself, directly or through other files.
var ErrFlagFileCycle = errors.New("flag file cycle")

// ErrFlagFileDepth is wrapped by the error [ExpandArgs] returns when @file
// arguments nest deeper than [MaxFlagFileDepth].
var ErrFlagFileDepth = fmt.Errorf("flag files nested deeper than %d", MaxFlagFileDepth)

// ExpandArgs replaces every argument of the form @path with the arguments
// read from the file at path, and returns the result.
//
// A file is split into arguments with shell-style rules
// (github.com/google/shlex): single and double quotes, backslash escapes,
// '#' comments to the end of the line, and any whitespace, including
// newlines, separating arguments. Arguments read from a file are expanded
// in turn, so a file can include another; a relative path inside a file is
// resolved against that file's directory, while a relative path on the
// command line is resolved against the working directory. Nesting is
// limited to [MaxFlagFileDepth] and cycles are reported as errors.
//
// An argument starting with "@@" stands for itself minus the first '@'
// (so "@@x" becomes the literal "@x"), and a lone "@" is kept as is. Errors
// name the offending file and the chain of files that included it.
func ExpandArgs(args []string) ([]string, error) {
	return expand(args, "", nil)
}

// expand expands args that were read from the file at the end of chain
// (chain is empty for the command line); dir is the base for relative paths.
func expand(args []string, dir string, chain []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "@@"):
			out = append(out, a[1:])
		case len(a) > 1 && a[0] == '@':
			sub, err := readFlagFile(a[1:], dir, chain)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		default:
			out = append(out, a)
		}
	}
	return out, nil
}

func readFlagFile(name, dir string, chain []string) ([]string, error) {
	path := name
	if dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("flag file %s: %w", describe(path, chain), err)
	}
	for i, prev := range chain {
		if prev == abs {
			cycle := append(append([]string(nil), chain[i:]...), abs)
			return nil, fmt.Errorf("flag file %q: %w: %s", path, ErrFlagFileCycle, strings.Join(cycle, " -> "))
		}
	}
	if len(chain) >= MaxFlagFileDepth {
		return nil, fmt.Errorf("flag file %s: %w", describe(path, chain), ErrFlagFileDepth)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, fmt.Errorf("flag file %s: %w", describe(path, chain), err)
	}
	words, err := shlex.Split(string(data))
	if err != nil {
		return nil, fmt.Errorf("flag file %s: parse error: %w", describe(path, chain), err)
	}
	return expand(words, filepath.Dir(abs), append(chain, abs))
}

// describe quotes path and, for nested files, says which file included it.
func describe(path string, chain []string) string {
	if len(chain) == 0 {
		return fmt.Sprintf("%q", path)
	}
	return fmt.Sprintf("%q (included via %s)", path, strings.Join(chain, " -> "))
}
