package jobs

import (
	"os"
	"strings"
	"sync"

	"github.com/bgjob/bgjob/host/store"
)

// A start --wait job belongs to its caller's session: the caller removes
// it when it ends, and a caller that goes away (Ctrl-C) has it stopped and
// removed. A machine that restarts ends every caller, so a host that finds
// such a job made before the machine last started removes it rather than
// run it, or keep it, for nobody (FromEarlierBoot). That also makes two of
// the job's writes safe to answer before their syncs: the row's creation,
// and its removal (see Table.RemoveIf), since a power loss that took
// either's sync leaves a row of an earlier boot.

// bootID names the machine's current boot ("" where the system does not
// say): the kernel's random boot id on Linux.
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// BootID names the machine's current boot; "" where the system does not
// say.
func BootID() string { return bootID() }

// FromEarlierBoot reports whether r is a start --wait job of this machine
// made before the machine last started. A job at a location (Slurm, SSH)
// is not: it runs on elsewhere, and its parent and children go together.
func FromEarlierBoot(r *store.Row) bool {
	now := bootID()
	return BootBound(r) && now != "" && r.Boot != now
}

// BootBound reports whether r is a start --wait job of this machine that
// knows its boot: one FromEarlierBoot can judge. A power loss that takes
// any of such a job's writes leaves a row of an earlier boot, which the
// next host removes, so none of them needs its own sync.
func BootBound(r *store.Row) bool {
	return r.Foreground && r.Boot != "" && r.Parent == 0 && len(r.ChildJobs) == 0 && r.Elsewhere() == ""
}
