//go:build !unix

package api

import "os"

// CheckHome: file ownership is not checked here; the home's ACLs are the
// user's.
func CheckHome(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &os.PathError{Op: "use", Path: dir, Err: os.ErrInvalid}
	}
	return nil
}

func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

func checkSocketDir(string) error { return nil }

// CheckHomeParents: see CheckHome.
func CheckHomeParents(string) error { return nil }
