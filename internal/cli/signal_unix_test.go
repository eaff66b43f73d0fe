//go:build unix

package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const helperEnv = "TESSERA_CLI_SIGNAL_HELPER"

// TestSignalHelper is not a real test: when re-executed by TestMainSignals
// with helperEnv set, it runs Main with a command that waits for its context
// and then, depending on the mode, returns or keeps running.
func TestSignalHelper(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for TestMainSignals")
	}
	root := &Command{
		Name: "prog",
		Run: func(ctx context.Context, _ *flag.FlagSet, _ []string) error {
			fmt.Fprintln(Stdout(ctx), "ready")
			<-ctx.Done()
			fmt.Fprintln(Stdout(ctx), "checkpointing")
			if mode == "hang" {
				select {} // ignore the cancellation; only a second signal ends this
			}
			return nil
		},
	}
	os.Exit(Main(root, nil, os.Stdout, os.Stderr))
}

func TestMainSignals(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		signals    int
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{
			name:       "first interrupt cancels the context",
			mode:       "return",
			signals:    1,
			wantCode:   ExitOK,
			wantStdout: []string{"checkpointing"},
			wantStderr: []string{"interrupt: stopping; press Ctrl-C again to exit immediately"},
		},
		{
			name:       "second interrupt exits",
			mode:       "hang",
			signals:    2,
			wantCode:   ExitInterrupted,
			wantStdout: []string{"checkpointing"},
			wantStderr: []string{"stopping", "interrupt: exiting"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSignalHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+tt.mode)
			stderr := &syncBuffer{}
			cmd.Stderr = stderr
			stdoutPipe, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			waited := false
			defer func() {
				if !waited {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			}()

			lines := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(stdoutPipe)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var seen []string
			waitLine := func(want string) {
				t.Helper()
				timeout := time.After(30 * time.Second)
				for {
					select {
					case l, ok := <-lines:
						require.True(t, ok, "helper stdout closed before %q; stderr: %s", want, stderr.String())
						seen = append(seen, l)
						if l == want {
							return
						}
					case <-timeout:
						t.Fatalf("timed out waiting for %q", want)
					}
				}
			}

			waitLine("ready")
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			if tt.signals > 1 {
				waitLine("checkpointing")
				require.NoError(t, cmd.Process.Signal(os.Interrupt))
			}
			for l := range lines { // drain until the helper closes stdout
				seen = append(seen, l)
			}
			err = cmd.Wait()
			waited = true

			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantCode, code, "stderr: %s", stderr.String())
			for _, s := range tt.wantStdout {
				assert.Contains(t, seen, s)
			}
			for _, s := range tt.wantStderr {
				assert.Contains(t, stderr.String(), s)
			}
		})
	}
}
