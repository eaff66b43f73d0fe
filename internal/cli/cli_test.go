package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// record captures what the test commands saw.
type record struct {
	ran     string
	verbose bool
	lr      float64
	steps   int
	args    []string
}

// testTree builds:
//
//	tessera [-v]
//	  version
//	  echo [args...]
//	  tokenizer
//	    train [-lr] [-steps] <data-dir>
//	    fail
func testTree(rec *record) *Command {
	train := &Command{
		Name:    "train",
		Usage:   "[flags] <data-dir>",
		Summary: "Train a tokenizer",
		Long:    "Trains the quantizer on the images in data-dir.",
		Flags: func(fs *flag.FlagSet) {
			fs.Float64Var(&rec.lr, "lr", 0.001, "learning `rate`")
			fs.IntVar(&rec.steps, "steps", 100, "number of optimizer steps")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
			rec.ran, rec.args = "train", args
			if len(args) != 1 {
				return Usagef("expected 1 argument, got %d", len(args))
			}
			return nil
		},
	}
	fail := &Command{
		Name:    "fail",
		Summary: "Always fails",
		Run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
			rec.ran = "fail"
			return errors.New("boom")
		},
	}
	return &Command{
		Name:    "tessera",
		Summary: "Vulkan deep-learning toolkit",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&rec.verbose, "v", false, "verbose output")
		},
		Sub: []*Command{
			{
				Name:    "version",
				Summary: "Print the version",
				Run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
					rec.ran = "version"
					fmt.Fprintln(Stdout(ctx), "tessera v1")
					return nil
				},
			},
			{
				Name:    "echo",
				Usage:   "[args...]",
				Summary: "Print the arguments",
				Run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
					rec.ran, rec.args = "echo", args
					fmt.Fprintln(Stdout(ctx), strings.Join(args, "|"))
					return nil
				},
			},
			{
				Name:    "tokenizer",
				Summary: "Tokenizer commands",
				Sub:     []*Command{train, fail},
			},
		},
	}
}

func TestExecute(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"train.args": "# training flags\n-lr 0.25\n-steps 7 # short run\n'my data'\n",
	})
	trainHelp := []string{
		"Usage:\n  tessera tokenizer train [flags] <data-dir>\n",
		"\nTrain a tokenizer\n",
		"\nTrains the quantizer on the images in data-dir.\n",
		"Flags:\n",
		"-lr rate",
		"learning rate (default 0.001)",
		"-steps int",
		"number of optimizer steps (default 100)",
	}
	rootHelp := []string{
		"Usage:\n  tessera [flags] <command> [args]\n",
		"Vulkan deep-learning toolkit",
		"Commands:\n",
		"version     Print the version\n",
		"tokenizer   Tokenizer commands\n",
		"help        Show help for a command\n",
		"-v\tverbose output",
		"Run 'tessera <command> --help'",
		"@@x is a literal @x",
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
		notStdout  []string
		check      func(t *testing.T, rec *record)
	}{
		{
			name:       "leaf command",
			args:       []string{"version"},
			wantStdout: []string{"tessera v1\n"},
			check:      func(t *testing.T, rec *record) { assert.Equal(t, "version", rec.ran) },
		},
		{
			name: "nested subcommand with flags",
			args: []string{"tokenizer", "train", "-lr", "0.5", "--steps=9", "data"},
			check: func(t *testing.T, rec *record) {
				assert.Equal(t, "train", rec.ran)
				assert.Equal(t, 0.5, rec.lr)
				assert.Equal(t, 9, rec.steps)
				assert.Equal(t, []string{"data"}, rec.args)
				assert.False(t, rec.verbose)
			},
		},
		{
			name: "flag defaults",
			args: []string{"tokenizer", "train", "data"},
			check: func(t *testing.T, rec *record) {
				assert.Equal(t, 0.001, rec.lr)
				assert.Equal(t, 100, rec.steps)
			},
		},
		{
			name: "root flag before subcommand",
			args: []string{"-v", "tokenizer", "train", "data"},
			check: func(t *testing.T, rec *record) {
				assert.True(t, rec.verbose)
				assert.Equal(t, "train", rec.ran)
			},
		},
		{
			name: "flag file",
			args: []string{"tokenizer", "train", "@" + filepath.Join(dir, "train.args")},
			check: func(t *testing.T, rec *record) {
				assert.Equal(t, 0.25, rec.lr)
				assert.Equal(t, 7, rec.steps)
				assert.Equal(t, []string{"my data"}, rec.args)
			},
		},
		{
			name:       "literal at argument",
			args:       []string{"echo", "@@x", "y"},
			wantStdout: []string{"@x|y\n"},
		},
		{
			name:       "missing flag file",
			args:       []string{"echo", "@" + filepath.Join(dir, "missing.args")},
			wantCode:   ExitUsage,
			wantStderr: []string{"missing.args", "no such file"},
			check:      func(t *testing.T, rec *record) { assert.Empty(t, rec.ran) },
		},
		{
			name:       "run error exits 1",
			args:       []string{"tokenizer", "fail"},
			wantCode:   ExitError,
			wantStderr: []string{"tessera tokenizer fail: boom\n"},
		},
		{
			name:     "usage error from run exits 2",
			args:     []string{"tokenizer", "train"},
			wantCode: ExitUsage,
			wantStderr: []string{
				"tessera tokenizer train: expected 1 argument, got 0\n",
				"Usage: tessera tokenizer train [flags] <data-dir>\n",
				"Run 'tessera tokenizer train --help' for details.",
			},
		},
		{
			name:       "undefined flag exits 2",
			args:       []string{"tokenizer", "train", "-nope", "data"},
			wantCode:   ExitUsage,
			wantStderr: []string{"tessera tokenizer train: flag provided but not defined: -nope", "Usage: tessera tokenizer train"},
			check:      func(t *testing.T, rec *record) { assert.Empty(t, rec.ran) },
		},
		{
			name:       "bad flag value exits 2",
			args:       []string{"tokenizer", "train", "-steps", "many", "data"},
			wantCode:   ExitUsage,
			wantStderr: []string{`invalid value "many" for flag -steps`},
		},
		{
			name:       "missing flag value exits 2",
			args:       []string{"tokenizer", "train", "-lr"},
			wantCode:   ExitUsage,
			wantStderr: []string{"flag needs an argument: -lr"},
		},
		{
			name:       "unknown root flag exits 2",
			args:       []string{"-x", "version"},
			wantCode:   ExitUsage,
			wantStderr: []string{"tessera: flag provided but not defined: -x"},
		},
		{
			name:       "unknown command",
			args:       []string{"bogus"},
			wantCode:   ExitUsage,
			wantStderr: []string{`tessera: unknown command "bogus" for "tessera"; valid commands: version, echo, tokenizer, help`},
		},
		{
			name:       "unknown nested command",
			args:       []string{"tokenizer", "bogus"},
			wantCode:   ExitUsage,
			wantStderr: []string{`unknown command "bogus" for "tessera tokenizer"; valid commands: train, fail, help`},
		},
		{
			name:       "missing command",
			args:       nil,
			wantCode:   ExitUsage,
			wantStderr: []string{"tessera: missing command; valid commands: version, echo, tokenizer, help", "Usage: tessera [flags] <command> [args]"},
		},
		{
			name:       "missing nested command",
			args:       []string{"tokenizer"},
			wantCode:   ExitUsage,
			wantStderr: []string{"tessera tokenizer: missing command; valid commands: train, fail, help"},
		},
		{
			name:       "leaf -h",
			args:       []string{"tokenizer", "train", "-h"},
			wantStdout: trainHelp,
			notStdout:  []string{"Commands:"},
			check:      func(t *testing.T, rec *record) { assert.Empty(t, rec.ran) },
		},
		{
			name:       "leaf --help after other flags",
			args:       []string{"tokenizer", "train", "-lr", "1", "--help"},
			wantStdout: trainHelp,
			check:      func(t *testing.T, rec *record) { assert.Empty(t, rec.ran) },
		},
		{
			name:       "group -help",
			args:       []string{"tokenizer", "-help"},
			wantStdout: []string{"Usage:\n  tessera tokenizer <command> [args]\n", "train   Train a tokenizer", "fail    Always fails", "help    Show help"},
			notStdout:  []string{"Flags:"},
		},
		{
			name:       "root -h",
			args:       []string{"-h"},
			wantStdout: rootHelp,
		},
		{
			name:       "help with no arguments",
			args:       []string{"help"},
			wantStdout: rootHelp,
		},
		{
			name:       "help for nested command",
			args:       []string{"help", "tokenizer", "train"},
			wantStdout: trainHelp,
			check:      func(t *testing.T, rec *record) { assert.Empty(t, rec.ran) },
		},
		{
			name:       "help inside a group",
			args:       []string{"tokenizer", "help", "train"},
			wantStdout: trainHelp,
		},
		{
			name:       "help help",
			args:       []string{"help", "help"},
			wantStdout: []string{"Usage:\n  tessera help [command...]\n", "Show help for a command"},
		},
		{
			name:       "help for unknown command",
			args:       []string{"help", "tokenizer", "bogus"},
			wantCode:   ExitUsage,
			wantStderr: []string{`tessera help: unknown command "bogus" for "tessera tokenizer"; valid commands: train, fail, help`},
		},
		{
			name:       "help below a leaf",
			args:       []string{"help", "version", "extra"},
			wantCode:   ExitUsage,
			wantStderr: []string{`unknown command "extra": "tessera version" has no subcommands`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &record{}
			var stdout, stderr bytes.Buffer
			code := Execute(context.Background(), testTree(rec), tt.args, &stdout, &stderr)

			assert.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			for _, s := range tt.wantStdout {
				assert.Contains(t, stdout.String(), s)
			}
			for _, s := range tt.notStdout {
				assert.NotContains(t, stdout.String(), s)
			}
			for _, s := range tt.wantStderr {
				assert.Contains(t, stderr.String(), s)
			}
			if tt.wantCode == ExitOK {
				assert.Empty(t, stderr.String())
			} else {
				assert.Empty(t, stdout.String())
			}
			if tt.check != nil {
				tt.check(t, rec)
			}
		})
	}
}

func TestExecuteContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := &Command{
		Name: "prog",
		Run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
			<-ctx.Done() // would block forever if ctx were not the cancelled one
			return fmt.Errorf("stopped early: %w", ctx.Err())
		},
	}
	var stdout, stderr bytes.Buffer
	code := Execute(ctx, root, nil, &stdout, &stderr)
	assert.Equal(t, ExitError, code)
	assert.Equal(t, "prog: stopped early: context canceled\n", stderr.String())
}

func TestStdoutStderrDefaults(t *testing.T) {
	assert.Equal(t, os.Stdout, Stdout(context.Background()))
	assert.Equal(t, os.Stderr, Stderr(context.Background()))
}

func TestValidate(t *testing.T) {
	run := func(context.Context, *flag.FlagSet, []string) error { return nil }
	tests := []struct {
		name    string
		root    *Command
		wantErr string
	}{
		{name: "valid", root: testTree(&record{})},
		{name: "empty name", root: &Command{Name: "p", Sub: []*Command{{Run: run}}}, wantErr: "empty name"},
		{name: "space in name", root: &Command{Name: "p", Sub: []*Command{{Name: "a b", Run: run}}}, wantErr: "whitespace"},
		{name: "dash name", root: &Command{Name: "p", Sub: []*Command{{Name: "-a", Run: run}}}, wantErr: "must not start"},
		{name: "no run or sub", root: &Command{Name: "p", Sub: []*Command{{Name: "a"}}}, wantErr: `"p a" has neither Run nor subcommands`},
		{name: "nil sub", root: &Command{Name: "p", Sub: []*Command{nil}}, wantErr: "nil subcommand"},
		{
			name:    "duplicate",
			root:    &Command{Name: "p", Sub: []*Command{{Name: "g", Sub: []*Command{{Name: "a", Run: run}, {Name: "a", Run: run}}}}},
			wantErr: `"p g" has two subcommands named "a"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.root.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)

			var stderr bytes.Buffer
			assert.Equal(t, ExitError, Execute(context.Background(), tt.root, nil, &bytes.Buffer{}, &stderr))
			assert.Contains(t, stderr.String(), tt.wantErr)
		})
	}
}

func TestUserDefinedHelpWins(t *testing.T) {
	called := false
	root := &Command{Name: "p", Sub: []*Command{{
		Name: "help",
		Run: func(context.Context, *flag.FlagSet, []string) error {
			called = true
			return nil
		},
	}}}
	assert.Equal(t, ExitOK, Execute(context.Background(), root, []string{"help"}, &bytes.Buffer{}, &bytes.Buffer{}))
	assert.True(t, called)
}

func TestUsageError(t *testing.T) {
	base := errors.New("base")
	err := Usagef("wrapped: %w", base)
	assert.True(t, IsUsageError(err))
	assert.True(t, IsUsageError(fmt.Errorf("outer: %w", err)))
	assert.ErrorIs(t, err, base)
	assert.Equal(t, "wrapped: base", err.Error())
	assert.False(t, IsUsageError(base))
	assert.False(t, IsUsageError(nil))
}
