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
	out := make([]string, 0, len(env)+len(ours))
	for _, kv := range env {
		// Every name of ours begins BGJOB_: most entries are let through
		// on that alone, without building name+"=" for each of ours.
		if strings.HasPrefix(kv, "BGJOB_") {
			name, _, _ := strings.Cut(kv, "=")
			if slices.ContainsFunc(ours, func(o string) bool { return isVar(o, name) }) {
				continue
			}
		}
		out = append(out, kv)
	}
	return append(out, ours...)
}

// isVar reports whether kv ("NAME=value") sets name.
func isVar(kv, name string) bool {
	return len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name
}
