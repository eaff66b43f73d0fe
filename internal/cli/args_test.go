package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFiles creates files (name -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func TestExpandArgs(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		args    []string // "$D" is replaced by the temp dir
		want    []string
		wantErr []string // substrings of the error message
		is      error    // errors.Is target, if any
	}{
		{
			name: "no files",
			args: []string{"train", "-lr", "0.1", "x"},
			want: []string{"train", "-lr", "0.1", "x"},
		},
		{
			name:  "quoting and comments",
			files: map[string]string{"a.args": "# leading comment\n-name 'two words' -msg \"say \\\"hi\\\"\"\n-path a\\ b # trailing comment\n\n-empty ''\n"},
			args:  []string{"run", "@$D/a.args", "tail"},
			want:  []string{"run", "-name", "two words", "-msg", `say "hi"`, "-path", "a b", "-empty", "", "tail"},
		},
		{
			name:  "newlines are whitespace",
			files: map[string]string{"a.args": "-a\n1\n\n\t-b   2\r\n"},
			args:  []string{"@$D/a.args"},
			want:  []string{"-a", "1", "-b", "2"},
		},
		{
			name:  "hash inside a word or quotes is literal",
			files: map[string]string{"a.args": "-color '#fff' x#y"},
			args:  []string{"@$D/a.args"},
			want:  []string{"-color", "#fff", "x#y"},
		},
		{
			name:  "empty file",
			files: map[string]string{"a.args": "# nothing here\n"},
			args:  []string{"x", "@$D/a.args", "y"},
			want:  []string{"x", "y"},
		},
		{
			name: "nested relative to including file",
			files: map[string]string{
				"top.args":      "-a 1 @sub/mid.args -z 26",
				"sub/mid.args":  "-b 2 @leaf.args",
				"sub/leaf.args": "-c 3",
			},
			args: []string{"@$D/top.args"},
			want: []string{"-a", "1", "-b", "2", "-c", "3", "-z", "26"},
		},
		{
			name:  "same file twice is not a cycle",
			files: map[string]string{"a.args": "@b.args @b.args", "b.args": "x"},
			args:  []string{"@$D/a.args", "@$D/b.args"},
			want:  []string{"x", "x", "x"},
		},
		{
			name:  "double at is literal",
			files: map[string]string{"a.args": "@@in-file"},
			args:  []string{"@@literal", "@", "@@", "x@y", "@$D/a.args"},
			want:  []string{"@literal", "@", "@", "x@y", "@in-file"},
		},
		{
			name:    "missing file",
			args:    []string{"@$D/nope.args"},
			wantErr: []string{"flag file", "nope.args", "no such file"},
			is:      fs.ErrNotExist,
		},
		{
			name:    "missing nested file names the includer",
			files:   map[string]string{"a.args": "@gone.args"},
			args:    []string{"@$D/a.args"},
			wantErr: []string{`"$D/gone.args"`, "included via $D/a.args", "no such file"},
			is:      fs.ErrNotExist,
		},
		{
			name:    "self cycle",
			files:   map[string]string{"a.args": "-x @a.args"},
			args:    []string{"@$D/a.args"},
			wantErr: []string{"cycle", "$D/a.args -> $D/a.args"},
			is:      ErrFlagFileCycle,
		},
		{
			name:    "indirect cycle",
			files:   map[string]string{"a.args": "@b.args", "b.args": "@c.args", "c.args": "@b.args"},
			args:    []string{"@$D/a.args"},
			wantErr: []string{"cycle", "$D/b.args -> $D/c.args -> $D/b.args"},
			is:      ErrFlagFileCycle,
		},
		{
			name: "too deep",
			files: map[string]string{
				"1": "@2", "2": "@3", "3": "@4", "4": "@5", "5": "@6", "6": "@7", "7": "@8", "8": "@9", "9": "x",
			},
			args:    []string{"@$D/1"},
			wantErr: []string{`"$D/9"`, "nested deeper than 8"},
			is:      ErrFlagFileDepth,
		},
		{
			name:  "max depth is allowed",
			files: map[string]string{"1": "@2", "2": "@3", "3": "@4", "4": "@5", "5": "@6", "6": "@7", "7": "@8", "8": "x"},
			args:  []string{"@$D/1"},
			want:  []string{"x"},
		},
		{
			name:    "unterminated quote",
			files:   map[string]string{"bad.args": "-name 'oops"},
			args:    []string{"@$D/bad.args"},
			wantErr: []string{"bad.args", "parse error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			sub := func(s string) string { return strings.ReplaceAll(s, "$D", dir) }
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = sub(a)
			}

			got, err := ExpandArgs(args)
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), sub(w))
				}
				if tt.is != nil {
					assert.ErrorIs(t, err, tt.is)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestExpandArgsRelativeToWorkingDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flags.txt": "-n 3 @more.txt", "more.txt": "-v"})
	t.Chdir(dir)

	got, err := ExpandArgs([]string{"@flags.txt"})
	require.NoError(t, err)
	assert.Equal(t, []string{"-n", "3", "-v"}, got)
}
