package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// stepBar is the progress bar of a training command, created on the first
// step (when the number of steps is known); the zero value is ready.
type stepBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

// update shows step of steps with a description of the losses.
func (s *stepBar) update(step, steps int, desc string) {
	if s.bar == nil {
		s.bar = progressbar.NewOptions(steps, progressbar.OptionSetWriter(s.w),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	s.bar.Describe(desc)
	_ = s.bar.Set(step)
}

// finish clears the bar, if one was shown.
func (s *stepBar) finish() {
	if s.bar != nil {
		_ = s.bar.Finish()
	}
}
