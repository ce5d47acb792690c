package catalog

import "golang.org/x/sys/unix"

// localFileSystems are the file systems whose files this kernel stamps
// itself, from its own clock, with nanoseconds: ext4 (whose small inodes,
// as ext3 made them, keep whole seconds, which settled tells by ctime),
// xfs, btrfs, tmpfs, overlayfs (its upper layer is one of these), f2fs,
// bcachefs and ZFS.
var localFileSystems = map[uint32]bool{
	unix.EXT4_SUPER_MAGIC:      true,
	unix.XFS_SUPER_MAGIC:       true,
	unix.BTRFS_SUPER_MAGIC:     true,
	unix.TMPFS_MAGIC:           true,
	unix.OVERLAYFS_SUPER_MAGIC: true,
	unix.F2FS_SUPER_MAGIC:      true,
	unix.BCACHEFS_SUPER_MAGIC:  true,
	0x2fc12fc1:                 true, // ZFS
}

// stampedHere reports whether the file at path is on a file system whose
// times this kernel sets from its own clock (see settledFor): not a network
// or FUSE file system, whose times another clock may set.
func stampedHere(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return stampedType(st.Type)
}

// stampedType reports whether statfs's type t is one of localFileSystems.
// The magic numbers are 32 bits; t is an int32 on 386 and arm, where
// btrfs's and f2fs's read negative, an int64 on amd64.
func stampedType[T int32 | int64 | uint32](t T) bool { return localFileSystems[uint32(t)] }
