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
// stand for its content: file times move in clock ticks, so two changes
// within one tick can leave the same times, and a file changed more
// recently than this is read again rather than trusted, as racy-git does.
//
// Linux stamps a file from a clock that moves a tick at a time (10 ms at
// most; finer with multigrain timestamps), so on a file system whose times
// carry nanoseconds a tenth of a second is ten ticks. Times in whole
// seconds (ext3, FAT's two seconds, some network file systems) need
// coarseSettledFor. A runtime is hashed again on every job until it has
// settled: 20 ms a job for a 20 MB binary, which a second's wait after
// every install (`make build` makes one) cost every start.
// (Variables for tests.)
var (
	settledFor       = 100 * time.Millisecond
	coarseSettledFor = 2 * time.Second
)

// settled reports whether id's file was last changed long enough ago.
func (id fileID) settled() bool {
	last := max(id.mtime, id.ctime)
	wait := settledFor
	if id.mtime%int64(time.Second) == 0 && id.ctime%int64(time.Second) == 0 {
		wait = max(wait, coarseSettledFor)
	}
	return time.Since(time.Unix(0, last)) > wait
}
