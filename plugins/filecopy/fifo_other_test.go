//go:build !unix

package filecopy_test

import "errors"

func mkfifo(string) error { return errors.ErrUnsupported }
