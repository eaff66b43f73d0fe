//go:build !headless && !tessera_headless && linux

package viewer

import "syscall"

func threadID() int { return syscall.Gettid() }
