package catalog

import "time"

// fileID identifies one version of a file's content cheaply, from stat
// alone. Any write changes mtime and ctime, and replacing the file changes
// the inode; ctime cannot be set back by user code (unlike mtime), so a
// match means the bytes hashed earlier are still the bytes on disk, short of
// someone tampering with the clock or the raw device.
type fileID struct {
	dev, ino           uint64
	size, mtime, ctime int64 // ctime and mtime in nanoseconds
}

// settledFor is how long a file must have been left alone for its stat to
// stand for its content: file times move in clock ticks (a few
// milliseconds), so two changes within one tick can leave the same times.
// A file changed more recently than this is read again rather than
// trusted, as racy-git does. (A variable for tests.)
var settledFor = time.Second

// settled reports whether id's file was last changed long enough ago.
func (id fileID) settled() bool {
	last := max(id.mtime, id.ctime)
	return time.Since(time.Unix(0, last)) > settledFor
}
