//go:build !headless && !tessera_headless

package viewer

import (
	"runtime"
	"sync"
)

// GLFW must be called from the process's main thread. Locking the main
// goroutine to it in init makes main() (and a test binary's TestMain) run
// there; Run, called from the main goroutine, then runs the window on it.
// Programs whose main goroutine is busy hand it to Main instead.
func init() {
	runtime.LockOSThread()
	mainTID = threadID()
}

// mainTID is the main thread's id (0 where threads have no cheap id).
var mainTID int

// isMainThread reports whether the caller runs on the main thread: only
// the main goroutine can, since it is locked there.
func isMainThread() bool {
	if mainTID == 0 {
		// No thread ids: trust the caller unless Main serves the thread.
		mainThread.mu.Lock()
		defer mainThread.mu.Unlock()
		return mainThread.calls == nil
	}
	return threadID() == mainTID
}

var mainThread struct {
	mu    sync.Mutex
	calls chan func() // non-nil while Main serves the main thread
}

// Main runs run in a new goroutine while the calling goroutine (which must
// be the main one: main() or TestMain) serves the viewer's windows; it
// returns run's result. Inside it Run works from any goroutine, e.g.
// from tests: func TestMain(m *testing.M) { os.Exit(viewer.Main(m.Run)) }.
func Main(run func() int) int {
	calls := make(chan func())
	mainThread.mu.Lock()
	mainThread.calls = calls
	mainThread.mu.Unlock()
	defer func() {
		mainThread.mu.Lock()
		mainThread.calls = nil
		mainThread.mu.Unlock()
	}()
	done := make(chan int, 1)
	go func() { done <- run() }()
	for {
		select {
		case f := <-calls:
			f()
		case code := <-done:
			return code
		}
	}
}

// onMain runs f on the main thread: directly when the caller is the main
// goroutine, else through Main. It fails with ErrNotMainThread otherwise.
func onMain(f func()) error {
	if isMainThread() {
		f()
		return nil
	}
	mainThread.mu.Lock()
	calls := mainThread.calls
	mainThread.mu.Unlock()
	if calls == nil {
		return ErrNotMainThread
	}
	done := make(chan struct{})
	calls <- func() { defer close(done); f() }
	<-done
	return nil
}
