//go:build !windows

package atomicfile

import "os"

// SyncDir makes the names in dir durable: a file created or renamed there
// survives a power loss only once its folder is synced too.
func SyncDir(dir string) error {
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
