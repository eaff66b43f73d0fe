//go:build !headless && !tessera_headless && linux

package viewer

/*
#cgo LDFLAGS: -lX11
#include <X11/Xlib.h>

// An X error not caught by whoever sent the request reaches Xlib's default
// handler, which exits the process. Mesa's window-system code sends
// unchecked requests; an error there must cost a frame, not the training
// run, so the viewer counts such errors instead.
static unsigned long tsr_x_errors;
static unsigned char tsr_x_last_code, tsr_x_last_major, tsr_x_last_minor;

static int tsr_x_error_handler(Display *d, XErrorEvent *e) {
	(void)d;
	tsr_x_errors++;
	tsr_x_last_code = e->error_code;
	tsr_x_last_major = e->request_code;
	tsr_x_last_minor = e->minor_code;
	return 0;
}

static void tsr_x_install(void) { XSetErrorHandler(tsr_x_error_handler); }
static unsigned long tsr_x_count(void) { return tsr_x_errors; }
static void tsr_x_last(int *code, int *major, int *minor) {
	*code = tsr_x_last_code;
	*major = tsr_x_last_major;
	*minor = tsr_x_last_minor;
}
*/
import "C"

import "fmt"

// installXErrorHandler replaces Xlib's exiting default error handler.
func installXErrorHandler() { C.tsr_x_install() }

// xErrors returns how many X errors the handler has seen and describes
// the last one.
func xErrors() (uint64, string) {
	var code, major, minor C.int
	C.tsr_x_last(&code, &major, &minor)
	return uint64(C.tsr_x_count()), fmt.Sprintf("X error %d on request %d.%d", int(code), int(major), int(minor))
}
