package catalog

// Arch32 is the 32-bit sibling of a 64-bit Go architecture: the build of a
// runtime that --run-as-32 picks (PowerShell's -RunAs32), and the one the
// build installs beside the native one. It is the one place this mapping
// is written; the Makefile asks bgjobd for it.
func Arch32(goarch string) (string, bool) {
	switch goarch {
	case "amd64":
		return "386", true
	case "arm64":
		return "arm", true
	}
	return "", false
}
