package viewer

import (
	"os"
	"testing"
)

// TestMain hands the main thread to the viewer (windows need it) and, in
// builds with windows, gives the tests an X server (startX).
func TestMain(m *testing.M) {
	stop := startX()
	code := Main(m.Run)
	stop()
	os.Exit(code)
}
