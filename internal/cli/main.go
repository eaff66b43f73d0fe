package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// ExitInterrupted is the status Main exits with when a second interrupt
// arrives before the command has finished.
const ExitInterrupted = 130

// Main runs the command line args (without the program name, i.e.
// os.Args[1:]) against the tree rooted at root, writing to stdout and stderr,
// and returns the exit code for os.Exit.
//
// The context passed to Run is cancelled on the first SIGINT or SIGTERM so
// that a long job (such as training) can save a checkpoint and return; a
// second signal exits the process immediately with status 130.
func Main(root *Command, args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go watchSignals(sigs, done, cancel, stderr, os.Exit)

	return Execute(ctx, root, args, stdout, stderr)
}

// watchSignals cancels on the first signal from sigs and calls exit on the
// second, until done is closed.
func watchSignals(sigs <-chan os.Signal, done <-chan struct{}, cancel context.CancelFunc, stderr io.Writer, exit func(int)) {
	select {
	case <-done:
		return
	case s := <-sigs:
		fmt.Fprintf(stderr, "\n%v: stopping; press Ctrl-C again to exit immediately\n", s)
		cancel()
	}
	select {
	case <-done:
	case s := <-sigs:
		fmt.Fprintf(stderr, "\n%v: exiting\n", s)
		exit(ExitInterrupted)
	}
}
