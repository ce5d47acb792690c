package catalog

// fileID identifies one version of a file's content cheaply, from stat
// alone. Any write changes mtime and ctime, and replacing the file changes
// the inode; ctime cannot be set back by user code (unlike mtime), so a
// match means the bytes hashed earlier are still the bytes on disk, short of
// someone tampering with the clock or the raw device.
type fileID struct {
	dev, ino           uint64
	size, mtime, ctime int64 // ctime and mtime in nanoseconds
}
