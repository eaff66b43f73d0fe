//go:build !headless && !tessera_headless && !linux

package viewer

func installXErrorHandler()     {}
func xErrors() (uint64, string) { return 0, "" }
