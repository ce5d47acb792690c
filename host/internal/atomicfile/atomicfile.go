// Package atomicfile replaces files so that a reader sees the old content or
// the new, never a part: the new content goes to a temporary file in the same
// directory, is synced, and is renamed over the old one (rename is atomic
// within a file system). The catalog's binaries and manifests and the host's
// attach records are written this way.
//
// SyncDir makes a folder's names durable, for those who create or rename
// files there themselves (the job table's log and journal, the events log).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is a temporary file that becomes its destination on Commit.
type File struct {
	*os.File
	sealed, done bool
}

// Create makes a temporary file in dir; pattern is as for os.CreateTemp
// (keep it a dot-name so listings skip it).
func Create(dir, pattern string) (*File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &File{File: f}, nil
}

// Seal sets the file's mode, syncs and closes it, so that it can be used
// (read, or run) under its temporary name before Commit; the catalog asks a
// staged binary to describe itself this way.
func (f *File) Seal(perm os.FileMode) error {
	if f.sealed {
		return nil
	}
	f.sealed = true
	err := f.Chmod(perm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit seals the file (if Seal was not called) and renames it to dest. On
// failure the temporary file is removed.
func (f *File) Commit(dest string, perm os.FileMode) error {
	if f.done {
		return fmt.Errorf("atomicfile: %s was committed or aborted already", f.Name())
	}
	f.done = true
	err := f.Seal(perm)
	if err == nil {
		err = os.Rename(f.Name(), dest)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Abort drops the temporary file; after Commit it does nothing, so it can be
// deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	if !f.sealed {
		f.Close()
	}
	os.Remove(f.Name())
}

// Write replaces path with data.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := Create(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.File.Write(data); err != nil {
		return err
	}
	return f.Commit(path, perm)
}
