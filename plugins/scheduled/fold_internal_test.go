package scheduled

import "testing"

// Definition names match without regard to case and in NFC, as job names
// do.
func TestFoldName(t *testing.T) {
	if foldName("Backup") != foldName("bACKUP") || foldName("\u00c9cole") != foldName("e\u0301cole") {
		t.Error("names differing in case or normal form are not one name")
	}
}
