//go:build headless || tessera_headless

package viewer

// startX does nothing in the headless build: it never opens windows.
func startX() func() { return func() {} }

// windowsBuiltIn: this build never opens windows.
const windowsBuiltIn = false
