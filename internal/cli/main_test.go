package cli

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for use from two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatchSignals(t *testing.T) {
	tests := []struct {
		name       string
		signals    int
		wantCancel bool
		wantExit   bool
		wantStderr []string
	}{
		{name: "no signal", signals: 0},
		{name: "first signal cancels", signals: 1, wantCancel: true, wantStderr: []string{"interrupt: stopping; press Ctrl-C again"}},
		{name: "second signal exits", signals: 2, wantCancel: true, wantExit: true, wantStderr: []string{"stopping", "interrupt: exiting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sigs := make(chan os.Signal, 2)
			done := make(chan struct{})
			exited := make(chan int, 1)
			stderr := &syncBuffer{}
			finished := make(chan struct{})
			go func() {
				watchSignals(sigs, done, cancel, stderr, func(code int) { exited <- code })
				close(finished)
			}()

			for range tt.signals {
				sigs <- os.Interrupt
			}
			if tt.wantCancel {
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("context not cancelled")
				}
			}
			if tt.wantExit {
				select {
				case code := <-exited:
					assert.Equal(t, ExitInterrupted, code)
				case <-time.After(5 * time.Second):
					t.Fatal("exit not called")
				}
			}
			close(done)
			select {
			case <-finished:
			case <-time.After(5 * time.Second):
				t.Fatal("watcher did not stop when done was closed")
			}
			assert.Equal(t, tt.wantCancel, ctx.Err() != nil)
			assert.Len(t, exited, 0)
			for _, s := range tt.wantStderr {
				assert.Contains(t, stderr.String(), s)
			}
			if tt.signals == 0 {
				assert.Empty(t, stderr.String())
			}
		})
	}
}

func TestMainRunsCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(testTree(&record{}), []string{"version"}, &stdout, &stderr)
	require.Equal(t, ExitOK, code, stderr.String())
	assert.Equal(t, "tessera v1\n", stdout.String())
}
