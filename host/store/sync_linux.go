package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's data durable without its times: on a log written
// over in place, no metadata at all.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
