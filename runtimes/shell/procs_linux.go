package shell

import (
	"bytes"
	"os"
	"strconv"
)

// groupHasLiveMembers reports whether any process of the group is not a
// zombie. kill(-pgid, 0) succeeds for a group of zombies, and orphans stay
// zombies for good under an init that does not reap them (a container's
// pid 1 often does not), which would make every such group look alive.
func groupHasLiveMembers(pgid int) bool {
	d, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return true
	}
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold anything.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 {
			continue
		}
		if pg, err := strconv.Atoi(string(f[2])); err != nil || pg != pgid {
			continue
		}
		if state := string(f[0]); state != "Z" && state != "X" {
			return true
		}
	}
	return false
}
