package sdk

import (
	"os"
	"runtime"
	"slices"
	"strings"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
)

// Description is what a plugin says about itself: to `PLUGIN describe` (as
// JSON, which the catalog records in its manifest) and to the host's
// Describe call. It is the one type for a plugin's self-description.
type Description struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	// Protocol is the newest protocol the plugin serves, Protocols all of
	// them (a plugin that does not list them serves only Protocol).
	Protocol  int   `json:"protocol"`
	Protocols []int `json:"protocols,omitempty"`
	// JobTypes are the custom job types the plugin serves, and what each
	// does (protocol 2 only).
	JobTypes []TypeInfo `json:"jobTypes,omitempty"`
	Kind     string     `json:"kind,omitempty"`
	// Reusable: the plugin runs further jobs after one has ended (see
	// ServeConfig.Reusable).
	Reusable bool `json:"reusable,omitempty"`

	// Pid and InstanceID identify the running process (Describe only):
	// the instance id is random per process, so a host can tell a
	// reattached process from a new one with the same pid.
	Pid        int    `json:"-"`
	InstanceID string `json:"-"`
}

// Kinds of plugin.
const (
	KindRuntime = "runtime"
	KindJobType = "jobtype"
)

func (d *Description) proto() *pb.DescribeResponse {
	return &pb.DescribeResponse{
		Name: d.Name, Version: d.Version, Os: d.OS, Arch: d.Arch,
		Protocol: int32(d.Protocol), JobTypes: d.TypeNames(), Reusable: d.Reusable,
		Pid: int32(os.Getpid()), InstanceId: processInstance,
		AcksOnRun: true, // server.Run takes them
	}
}

// TypeNames lists the names of d's job types.
func (d *Description) TypeNames() []string {
	var names []string
	for _, t := range d.JobTypes {
		names = append(names, t.Name)
	}
	return names
}

// JobType returns what d says of job type name, if d serves it. Names
// match in any case, as PowerShell's do (--type copy is Copy); TypeInfo's
// Name is the plugin's own spelling.
func (d *Description) JobType(name string) (TypeInfo, bool) {
	for _, t := range d.JobTypes {
		if strings.EqualFold(t.Name, name) {
			return t, true
		}
	}
	return TypeInfo{}, false
}

// DescriptionOf reads a protocol-2 Describe answer, which names the job
// types without what each does.
func DescriptionOf(r *pb.DescribeResponse) *Description {
	d := &Description{Name: r.Name, Version: r.Version, OS: r.Os, Arch: r.Arch,
		Protocol: int(r.Protocol), Pid: int(r.Pid), InstanceID: r.InstanceId, Reusable: r.Reusable}
	for _, n := range r.JobTypes {
		d.JobTypes = append(d.JobTypes, TypeInfo{Name: n})
	}
	return d
}

func describe(name, version, kind string, jobTypes []TypeInfo, protocols []int) *Description {
	return &Description{Name: name, Version: version, OS: runtime.GOOS, Arch: runtime.GOARCH,
		Protocol: slices.Max(protocols), Protocols: protocols, JobTypes: jobTypes, Kind: kind}
}

// ServedProtocols is every protocol d says the plugin serves.
func (d *Description) ServedProtocols() []int {
	if len(d.Protocols) > 0 {
		return d.Protocols
	}
	return []int{d.Protocol}
}
