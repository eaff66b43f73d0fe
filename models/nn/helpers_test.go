package nn

import (
	"testing"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
)

// testTape opens the default device with one scope for the test and
// checks at cleanup for leaks and validation messages.
func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}
