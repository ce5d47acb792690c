package jobs

import (
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// Which rows a later boot's host removes, and whose removal may answer
// before its sync: the same ones, a start --wait job of this machine that
// knows its boot. A row without a boot (made before boots were kept, or
// where the system names none) is kept and removed with a sync.
func TestBootBound(t *testing.T) {
	now := bootID()
	if now == "" {
		t.Skip("this system names no boot (no /proc/sys/kernel/random/boot_id)")
	}
	row := func(mod func(*store.Row)) *store.Row {
		r := &store.Row{Job: api.Job{ID: 7}, Foreground: true, Boot: "an-earlier-boot"}
		mod(r)
		return r
	}
	for _, c := range []struct {
		name           string
		r              *store.Row
		bound, earlier bool
	}{
		{"start --wait, earlier boot", row(func(*store.Row) {}), true, true},
		{"start --wait, this boot", row(func(r *store.Row) { r.Boot = now }), true, false},
		{"start --wait, no boot", row(func(r *store.Row) { r.Boot = "" }), false, false},
		{"not start --wait", row(func(r *store.Row) { r.Foreground = false }), false, false},
		{"a child job", row(func(r *store.Row) { r.Parent = 3 }), false, false},
		{"a parent", row(func(r *store.Row) { r.ChildJobs = []uint64{8} }), false, false},
		{"at a location", row(func(r *store.Row) { r.SSH = &store.SSHJob{} }), false, false},
	} {
		if got := BootBound(c.r); got != c.bound {
			t.Errorf("%s: BootBound = %v, want %v", c.name, got, c.bound)
		}
		if got := FromEarlierBoot(c.r); got != c.earlier {
			t.Errorf("%s: FromEarlierBoot = %v, want %v", c.name, got, c.earlier)
		}
	}
}
