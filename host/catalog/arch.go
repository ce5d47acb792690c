package catalog

// Arch32 is the 32-bit sibling of a 64-bit Go platform: the build of a
// runtime that --run-as-32 picks (PowerShell's -RunAs32), and the one the
// build installs beside the native one. It is the one place this mapping
// is written; the Makefile asks bgjobd for it.
//
// The sibling is the 32-bit architecture the OS runs beside the 64-bit
// one, and Go builds for: 386 beside amd64; arm beside arm64, except on
// Windows, which has no 32-bit Arm port (Go's windows/arm is gone) and
// runs x86 programs on arm64 instead, so 386 there. macOS and iOS run no
// 32-bit programs at all, and Go builds none for them.
func Arch32(goos, goarch string) (string, bool) {
	switch goos {
	case "darwin", "ios":
		return "", false
	}
	switch goarch {
	case "amd64":
		switch goos {
		case "linux", "windows", "freebsd", "netbsd", "openbsd", "android":
			return "386", true
		}
	case "arm64":
		switch goos {
		case "windows":
			return "386", true
		case "linux", "freebsd", "netbsd", "openbsd", "android":
			return "arm", true
		}
	}
	return "", false
}
