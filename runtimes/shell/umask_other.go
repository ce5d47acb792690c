//go:build !unix

package shell

import "errors"

var errNoUmask = errors.New("there is no file mode creation mask on this system")

func getUmask() (uint32, error) { return 0, errNoUmask }
func setUmask(uint32) error     { return errNoUmask }
