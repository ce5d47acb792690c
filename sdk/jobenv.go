package sdk

import (
	"slices"
	"strconv"
	"strings"
)

// Variables the SDK adds to every job's environment (Job.Env), whatever the
// runtime or type: a job can tell which job it is and what runs it
// (PowerShell's $PSVersionTable) without each runtime having to say so.
const (
	EnvJobID          = "BGJOB_JOB_ID"          // the job's id
	EnvJobName        = "BGJOB_JOB_NAME"        // the job's name
	EnvRuntimeVersion = "BGJOB_RUNTIME_VERSION" // the plugin's version (ServeConfig.Version)
	EnvRuntimeArch    = "BGJOB_RUNTIME_ARCH"    // the plugin binary's GOARCH (Description.Arch): 386 for a --run-as-32 job on amd64
)

// jobEnv is job's environment with the SDK's variables set last, for desc's
// plugin. An entry of the same name the job already had is dropped rather
// than shadowed, so that a runtime that reads the list front to back, or
// hands it to a program that does, sees the SDK's value.
func jobEnv(env []string, job *Job, desc *Description) []string {
	ours := []string{
		EnvJobID + "=" + strconv.FormatUint(job.Id, 10),
		EnvJobName + "=" + job.Name,
		EnvRuntimeVersion + "=" + desc.Version,
		EnvRuntimeArch + "=" + desc.Arch,
	}
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.ContainsFunc(ours, func(o string) bool { return strings.HasPrefix(o, name+"=") })
	})
	return append(out, ours...)
}
