//go:build !headless && !tessera_headless

package viewer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// windowsBuiltIn: this build opens windows.
const windowsBuiltIn = true

// xReason is why window tests cannot run ("" when they can).
var xReason string

// xvfbSize is the screen of the X server the tests start.
const xvfbW, xvfbH = 800, 600

// startX makes sure DISPLAY names a running X server: the caller's when
// DISPLAY is set, else an Xvfb on a free display number started here. It
// returns the function that stops what it started.
func startX() func() {
	if d := os.Getenv("DISPLAY"); d != "" {
		return func() {}
	}
	xvfb, err := exec.LookPath("Xvfb")
	if err != nil {
		xReason = "DISPLAY is unset and Xvfb is not installed (apt-get install xvfb)"
		return func() {}
	}
	for n := 91; n < 160; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		sock := filepath.Join("/tmp/.X11-unix", fmt.Sprintf("X%d", n))
		if _, err := os.Stat(sock); err == nil {
			continue
		}
		var log strings.Builder
		cmd := exec.Command(xvfb, fmt.Sprintf(":%d", n), "-screen", "0", fmt.Sprintf("%dx%dx24", xvfbW, xvfbH), "-nolisten", "tcp")
		cmd.Stdout, cmd.Stderr = &log, &log
		// The X server goes when the test binary does, even if it crashes
		// (TestMain runs on the main thread, which lives as long as the process).
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			xReason = fmt.Sprintf("cannot start Xvfb: %v", err)
			return func() {}
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			// SIGTERM lets Xvfb remove its lock file and socket.
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			select {
			case <-exited:
				xReason = "Xvfb exited: " + strings.TrimSpace(log.String())
			default:
			}
			if xReason != "" {
				break
			}
			if _, err := os.Stat(sock); err == nil {
				os.Setenv("DISPLAY", fmt.Sprintf(":%d", n))
				return stop
			}
		}
		if xReason == "" {
			xReason = "Xvfb did not come up within 10 s: " + strings.TrimSpace(log.String())
		}
		stop()
		return func() {}
	}
	xReason = "no free X display number for Xvfb"
	return func() {}
}

// needX skips a test that needs an X server when none could start.
func needX(t *testing.T) {
	t.Helper()
	if xReason != "" {
		t.Skipf("no X server: %s", xReason)
	}
}
