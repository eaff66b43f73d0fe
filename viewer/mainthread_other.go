//go:build !headless && !tessera_headless && !linux

package viewer

func threadID() int { return 0 }
