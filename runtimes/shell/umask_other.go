//go:build !unix

package shell

// There is no file mode creation mask: the umask builtin says so, and
// files are created as the system does.
const haveUmask = false

func withUmask(_ uint32, f func()) { f() }

func processUmask() uint32 { return 0 }
