//go:build !unix

package admit

func isExecFormat(error) bool { return false }
