package jobs

import (
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/store"
)

// LaunchSpec is the process a job's runtime must be.
func (t *Table) LaunchSpec(r *store.Row, sha string) *launch.Spec {
	var id launch.Identity
	if r.RunAs != nil {
		id = launch.Identity{UID: r.RunAs.UID, GID: r.RunAs.GID, Groups: r.RunAs.Groups}
	}
	return &launch.Spec{
		Identity: id,
		Binary:   r.Spec.Runtime, SHA256: sha, Protocol: r.Runtime.Protocol,
		OS: r.Runtime.OS, Arch: r.Runtime.Arch, Name: r.Runtime.Name, Version: r.Runtime.Version, Workdir: r.Workdir,
		LogFile: t.RuntimeLogPath(r.ID),
	}
}
