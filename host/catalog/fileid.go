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

// How long a file must have been left alone for its stat to stand for its
// content: file times move in clock ticks, so two changes within one tick
// can leave the same times, and a file changed more recently than this is
// read again rather than trusted, as racy-git does. A runtime is hashed
// again at every use until it has settled: 20 ms a job for a 20 MB binary,
// which a second's wait after every install (`make build` makes one) cost
// every start.
//
// Linux stamps a file from a clock that moves a tick at a time (10 ms at
// most; finer with multigrain timestamps), never ahead of the clock we read
// the time from: on a file system whose times carry nanoseconds and that
// this kernel stamps (stampedHere: ext4, xfs, btrfs, tmpfs, overlayfs, ...)
// a tenth of a second is ten ticks. Anywhere else, times in whole seconds
// (ext3, FAT's two seconds) or set by another machine's clock (NFS, SMB,
// FUSE, a virtual machine's shared folders), coarseSettledFor.
// (Variables for tests.)
var (
	settledFor       = 100 * time.Millisecond
	coarseSettledFor = 3 * time.Second
)

// settled reports whether id's file, at path, was last changed long enough
// ago.
func (id fileID) settled(path string) bool {
	return id.settledAt(time.Now(), func() bool { return stampedHere(path) })
}

// settledAt is settled at the time now; stampedHere is asked only for a
// file whose age lies between the two waits.
func (id fileID) settledAt(now time.Time, stampedHere func() bool) bool {
	age := now.Sub(time.Unix(0, max(id.mtime, id.ctime)))
	switch {
	case age > coarseSettledFor:
		return true
	case age <= settledFor:
		return false
	}
	// ctime, which no user can set (mtime can be set to whole seconds by
	// touch or cp -p), shows the file system's grain.
	return id.ctime%int64(time.Second) != 0 && stampedHere()
}
