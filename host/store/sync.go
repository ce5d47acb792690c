//go:build !windows

package store

import "os"

// syncDir makes the names in dir durable: a file created or renamed there
// survives a power loss only once its folder is synced too.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
