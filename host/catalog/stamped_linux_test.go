package catalog

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The file systems this kernel stamps are told from the others.
func TestStampedHere(t *testing.T) {
	if stampedHere("/proc/self") {
		t.Error("/proc was taken for a file system whose files this kernel stamps")
	}
	if stampedHere(filepath.Join(t.TempDir(), "missing")) {
		t.Error("a path that does not exist was taken as stamped here")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(t.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	// Where the tests run (CI: ext4; often tmpfs), the temporary folder
	// is on a file system this kernel stamps; elsewhere, say which.
	switch typ := uint32(st.Type); typ {
	case unix.EXT4_SUPER_MAGIC, unix.TMPFS_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.OVERLAYFS_SUPER_MAGIC:
		if !stampedHere(t.TempDir()) {
			t.Errorf("the temporary folder, on a file system of type %#x, was not taken as stamped here", typ)
		}
	default:
		t.Logf("the temporary folder is on a file system of type %#x: stampedHere says %v", typ, stampedHere(t.TempDir()))
	}
}

// Every magic number is found whichever integer type statfs gives it in.
func TestStampedType(t *testing.T) {
	for magic := range localFileSystems {
		if !stampedType(int64(magic)) || !stampedType(int32(magic)) || !stampedType(magic) {
			t.Errorf("file system type %#x not found as int64 %d, int32 %d or uint32", magic, int64(magic), int32(magic))
		}
	}
	if stampedType(int64(0x6969)) { // NFS
		t.Error("NFS taken for a file system this kernel stamps")
	}
}
