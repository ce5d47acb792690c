package sdk

import (
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// On Unix a script, an argument, an environment variable or a path is a
// string of bytes, not necessarily UTF-8, and a job must get exactly what
// it was given. Go strings hold any bytes, but a proto3 string field must
// be valid UTF-8 (protobuf refuses to marshal it otherwise), so the
// protocol carries such fields a second time as bytes (Job.script_raw and
// the rest). EncodeJob fills those in before a Job is marshalled;
// DecodeJob, after it is unmarshalled, puts the exact bytes back in the
// string fields, so code on either side sees plain strings.

// EncodeJob returns job ready to marshal: job itself when all its strings
// are valid UTF-8 (nearly always), else a copy whose invalid strings are
// repaired (each bad byte U+FFFD, what a runtime that predates the raw
// fields will see) and carried exactly in the raw fields.
func EncodeJob(job *Job) *Job {
	if job == nil || jobValid(job) {
		return job
	}
	c := proto.Clone(job).(*Job)
	// The clone holds the same bytes; set the raw fields from them and
	// repair the strings.
	if !utf8.ValidString(c.Script) {
		c.ScriptRaw, c.Script = []byte(c.Script), valid(c.Script)
	}
	if !utf8.ValidString(c.Init) {
		c.InitRaw, c.Init = []byte(c.Init), valid(c.Init)
	}
	if !utf8.ValidString(c.Workdir) {
		c.WorkdirRaw, c.Workdir = []byte(c.Workdir), valid(c.Workdir)
	}
	if !allValid(c.Args) {
		c.ArgsRaw, c.Args = raw(c.Args), validAll(c.Args)
	}
	if !allValid(c.Env) {
		c.EnvRaw, c.Env = raw(c.Env), validAll(c.Env)
	}
	c.Name, c.Command, c.Type, c.InstanceId = valid(c.Name), valid(c.Command), valid(c.Type), valid(c.InstanceId)
	return c
}

// DecodeJob puts the exact bytes of the raw fields back into job's string
// fields and clears the raw fields. A job from a host that predates them
// has none, and is left as it is.
func DecodeJob(job *Job) {
	if job == nil {
		return
	}
	if job.ScriptRaw != nil {
		job.Script, job.ScriptRaw = string(job.ScriptRaw), nil
	}
	if job.InitRaw != nil {
		job.Init, job.InitRaw = string(job.InitRaw), nil
	}
	if job.WorkdirRaw != nil {
		job.Workdir, job.WorkdirRaw = string(job.WorkdirRaw), nil
	}
	if job.ArgsRaw != nil {
		job.Args, job.ArgsRaw = strs(job.ArgsRaw), nil
	}
	if job.EnvRaw != nil {
		job.Env, job.EnvRaw = strs(job.EnvRaw), nil
	}
}

func jobValid(j *Job) bool {
	return utf8.ValidString(j.Script) && utf8.ValidString(j.Init) && utf8.ValidString(j.Workdir) &&
		allValid(j.Args) && allValid(j.Env) &&
		// The rest are the host's own or the user's display text: a name
		// and a command are shown, not run, so they are repaired.
		utf8.ValidString(j.Name) && utf8.ValidString(j.Command) && utf8.ValidString(j.Type) && utf8.ValidString(j.InstanceId)
}

func allValid(ss []string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func validAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = valid(s)
	}
	return out
}

func raw(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}
