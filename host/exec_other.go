//go:build !unix

package host

func isExecFormat(error) bool { return false }
