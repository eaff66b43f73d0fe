// Package cli is a small subcommand framework built on the standard flag
// package.
//
// A program is a tree of [Command] values. [Main] expands @file arguments
// (see [ExpandArgs]), walks the tree by command name, parses each level's
// flags with its own [flag.FlagSet], and calls the selected command's Run
// with a context that is cancelled on the first interrupt.
//
// Every command accepts -h / --help, which prints its usage line, summary,
// long description, subcommands and flag defaults. A command with
// subcommands also gets a built-in "help" subcommand, so
// "tessera help tokenizer train" prints the same text as
// "tessera tokenizer train --help".
//
// Exit codes: 0 on success (and for explicit help requests), 2 for usage
// errors (unknown command, bad flag, missing or malformed @file, or a Run
// error wrapped by [Usagef] / [UsageError]), 1 for any other error returned
// by Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// Exit codes returned by [Main] and [Execute].
const (
	ExitOK    = 0 // success, or help explicitly requested
	ExitError = 1 // Run returned an error
	ExitUsage = 2 // the command line was invalid
)

// Command is one node of a command tree: the program itself (the root), a
// group such as "tokenizer", or a leaf such as "tokenizer train".
type Command struct {
	// Name is the word that selects the command on the command line. For the
	// root it is the program name used in messages.
	Name string
	// Usage is the argument synopsis printed after the command path, for
	// example "[flags] <data-dir>". When empty it is derived from whether the
	// command has flags and subcommands.
	Usage string
	// Summary is a one-line description shown in command lists and at the top
	// of the command's help.
	Summary string
	// Long is an optional longer description shown in the command's help.
	Long string
	// Flags, if non-nil, defines the command's flags on fs. It is typically a
	// closure that binds flags to variables which Run then reads. It may be
	// called more than once (for example to print help), so it must only
	// define flags.
	Flags func(fs *flag.FlagSet)
	// Run executes the command with the parsed flag set and the remaining
	// positional arguments. ctx is cancelled on the first interrupt signal;
	// long-running commands should watch it and stop cleanly. Output should
	// go to [Stdout](ctx) and [Stderr](ctx). Returning an error made by
	// [Usagef] or wrapping a [UsageError] exits with status 2 and prints a
	// usage hint; any other error exits with status 1.
	//
	// A command with subcommands may leave Run nil; it then requires a
	// subcommand. If both are set, Run receives the arguments when the first
	// one does not name a subcommand.
	Run func(ctx context.Context, fs *flag.FlagSet, args []string) error
	// Sub lists the subcommands, in the order they are shown in help.
	Sub []*Command
}

// UsageError marks an error as a command-line mistake rather than a failure
// of the command itself. Main reports it with exit status 2.
type UsageError struct {
	Err error
}

// Error returns the message of the wrapped error.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef formats an error message as a [UsageError]. %w verbs are honoured.
func Usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// IsUsageError reports whether err is, or wraps, a [UsageError].
func IsUsageError(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}

type ioKey struct{}

type ioWriters struct {
	stdout, stderr io.Writer
}

// Stdout returns the standard-output writer given to [Main] or [Execute],
// or os.Stdout if ctx carries none.
func Stdout(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(ioKey{}).(ioWriters); ok {
		return w.stdout
	}
	return os.Stdout
}

// Stderr returns the standard-error writer given to [Main] or [Execute],
// or os.Stderr if ctx carries none.
func Stderr(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(ioKey{}).(ioWriters); ok {
		return w.stderr
	}
	return os.Stderr
}

// Validate checks the command tree for mistakes that would make commands
// unreachable: empty or blank-containing names, names starting with '-' or
// '@', duplicate sibling names, and commands with neither Run nor Sub.
func (c *Command) Validate() error {
	return c.validate(c.Name, true)
}

func (c *Command) validate(path string, root bool) error {
	switch {
	case c.Name == "":
		return fmt.Errorf("cli: command under %q has an empty name", path)
	case strings.ContainsAny(c.Name, " \t\r\n"):
		return fmt.Errorf("cli: command %q: name contains whitespace", path)
	case !root && (strings.HasPrefix(c.Name, "-") || strings.HasPrefix(c.Name, "@")):
		return fmt.Errorf("cli: command %q: name must not start with '-' or '@'", path)
	case c.Run == nil && len(c.Sub) == 0:
		return fmt.Errorf("cli: command %q has neither Run nor subcommands", path)
	}
	seen := make(map[string]bool, len(c.Sub))
	for _, s := range c.Sub {
		if s == nil {
			return fmt.Errorf("cli: command %q has a nil subcommand", path)
		}
		if seen[s.Name] {
			return fmt.Errorf("cli: command %q has two subcommands named %q", path, s.Name)
		}
		seen[s.Name] = true
		if err := s.validate(path+" "+s.Name, false); err != nil {
			return err
		}
	}
	return nil
}

// Execute runs the command line args (without the program name) against the
// tree rooted at root and returns the exit code. Unlike [Main] it installs no
// signal handler: cancellation comes from ctx. Output goes to stdout and
// stderr, which are also made available to commands through [Stdout] and
// [Stderr].
func Execute(ctx context.Context, root *Command, args []string, stdout, stderr io.Writer) int {
	if err := root.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return ExitError
	}
	ctx = context.WithValue(ctx, ioKey{}, ioWriters{stdout: stdout, stderr: stderr})

	args, err := ExpandArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", root.Name, err)
		return ExitUsage
	}

	cmd, path := root, root.Name
	for {
		fs := newFlagSet(cmd, path)
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				writeHelp(stdout, cmd, path)
				return ExitOK
			}
			return usageFailure(stderr, cmd, path, err)
		}
		fs.SetOutput(stderr)
		rest := fs.Args()

		if len(cmd.Sub) > 0 || cmd.Run == nil {
			if len(rest) > 0 {
				if sub := lookup(cmd, path, rest[0]); sub != nil {
					cmd, path, args = sub, path+" "+sub.Name, rest[1:]
					continue
				}
			}
			if cmd.Run == nil {
				if len(rest) == 0 {
					return usageFailure(stderr, cmd, path, fmt.Errorf("missing command; valid commands: %s", commandList(cmd)))
				}
				return usageFailure(stderr, cmd, path, unknownCommand(cmd, path, rest[0]))
			}
		}

		err := cmd.Run(ctx, fs, rest)
		switch {
		case err == nil:
			return ExitOK
		case IsUsageError(err):
			return usageFailure(stderr, cmd, path, err)
		default:
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			return ExitError
		}
	}
}

// lookup returns the subcommand of cmd called name, including the built-in
// help command, or nil.
func lookup(cmd *Command, path, name string) *Command {
	for _, s := range cmd.Sub {
		if s.Name == name {
			return s
		}
	}
	if name == helpName && len(cmd.Sub) > 0 {
		return helpCommand(cmd, path)
	}
	return nil
}

const helpName = "help"

// subcommands returns cmd's subcommands as shown to users: the declared ones
// followed by the built-in help command unless one named "help" is declared.
func subcommands(cmd *Command, path string) []*Command {
	if len(cmd.Sub) == 0 {
		return nil
	}
	subs := append([]*Command(nil), cmd.Sub...)
	for _, s := range cmd.Sub {
		if s.Name == helpName {
			return subs
		}
	}
	return append(subs, helpCommand(cmd, path))
}

// helpCommand builds the built-in "help [command...]" subcommand of parent.
func helpCommand(parent *Command, parentPath string) *Command {
	return &Command{
		Name:    helpName,
		Usage:   "[command...]",
		Summary: "Show help for a command",
		Long: fmt.Sprintf("With no arguments, prints help for %q. Otherwise prints help for the named\n"+
			"subcommand, e.g. %q.", parentPath, parentPath+" help <command> <subcommand>"),
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			cmd, path := parent, parentPath
			for _, name := range args {
				sub := lookup(cmd, path, name)
				if sub == nil {
					return &UsageError{Err: unknownCommand(cmd, path, name)}
				}
				cmd, path = sub, path+" "+sub.Name
			}
			writeHelp(Stdout(ctx), cmd, path)
			return nil
		},
	}
}

func unknownCommand(cmd *Command, path, name string) error {
	if len(cmd.Sub) == 0 {
		return fmt.Errorf("unknown command %q: %q has no subcommands", name, path)
	}
	return fmt.Errorf("unknown command %q for %q; valid commands: %s", name, path, commandList(cmd))
}

func commandList(cmd *Command) string {
	names := make([]string, 0, len(cmd.Sub)+1)
	for _, s := range subcommands(cmd, "") {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// newFlagSet returns a silent ContinueOnError flag set with cmd's flags.
func newFlagSet(cmd *Command, path string) *flag.FlagSet {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// synopsis returns the one-line usage of cmd, starting with its path.
func synopsis(cmd *Command, path string, fs *flag.FlagSet) string {
	if cmd.Usage != "" {
		return path + " " + cmd.Usage
	}
	s := path
	if hasFlags(fs) {
		s += " [flags]"
	}
	if len(cmd.Sub) > 0 {
		s += " <command> [args]"
	}
	return s
}

// usageFailure reports a command-line mistake on w and returns ExitUsage.
func usageFailure(w io.Writer, cmd *Command, path string, err error) int {
	fs := newFlagSet(cmd, path)
	fmt.Fprintf(w, "%s: %v\n", path, err)
	fmt.Fprintf(w, "Usage: %s\n", synopsis(cmd, path, fs))
	fmt.Fprintf(w, "Run '%s --help' for details.\n", path)
	return ExitUsage
}

// writeHelp prints the full help text of cmd to w.
func writeHelp(w io.Writer, cmd *Command, path string) {
	fs := newFlagSet(cmd, path)
	fmt.Fprintf(w, "Usage:\n  %s\n", synopsis(cmd, path, fs))
	if cmd.Summary != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.Summary)
	}
	if long := strings.TrimSpace(cmd.Long); long != "" {
		fmt.Fprintf(w, "\n%s\n", long)
	}
	if subs := subcommands(cmd, path); len(subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Summary)
		}
		tw.Flush()
	}
	if hasFlags(fs) {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if len(cmd.Sub) > 0 {
		fmt.Fprintf(w, "\nRun '%s <command> --help' for details on a command.\n", path)
	}
	if !strings.Contains(path, " ") {
		fmt.Fprintf(w, "\nAn argument @file is replaced by the shell-quoted arguments read from file\n"+
			"('#' starts a comment, newlines separate like spaces); @@x is a literal @x.\n")
	}
}
