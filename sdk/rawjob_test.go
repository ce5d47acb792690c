package sdk

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// A job whose script, arguments, environment or working directory are not
// UTF-8 marshals (a proto3 string alone would refuse it) and comes back
// exactly; a runtime that ignores the raw fields sees the repaired text.
func TestEncodeJobBytes(t *testing.T) {
	job := &Job{Id: 1, Name: "n\xff", Script: "printf %s 'e\xfdf'", Init: "i\xff", Args: []string{"ok", "a\xffb", ""},
		Workdir: "/tmp/dir\xff", Env: []string{"A=1", "V=c\xffd"}, Command: "c\xff", Input: []byte("\xff")}
	if _, err := proto.Marshal(job); err == nil {
		t.Fatal("proto.Marshal took invalid UTF-8 in a string; the raw fields are not needed")
	}
	b, err := proto.Marshal(EncodeJob(job))
	if err != nil {
		t.Fatal(err)
	}
	if job.ScriptRaw != nil || job.Script != "printf %s 'e\xfdf'" {
		t.Error("EncodeJob changed its argument")
	}
	old := new(Job)
	if err := proto.Unmarshal(b, old); err != nil {
		t.Fatal(err)
	}
	if old.Args[1] != "a\uFFFDb" || old.Workdir != "/tmp/dir\uFFFD" {
		t.Errorf("what an old runtime sees: %q %q", old.Args, old.Workdir)
	}
	DecodeJob(old)
	if old.Script != job.Script || old.Init != job.Init || old.Workdir != job.Workdir || len(old.Args) != 3 || old.Args[1] != job.Args[1] ||
		old.Args[2] != "" || old.Env[1] != job.Env[1] || old.ScriptRaw != nil || old.ArgsRaw != nil {
		t.Errorf("decoded %+v, want %+v", old, job)
	}
	valid := &Job{Script: "echo é", Args: []string{"x"}}
	if EncodeJob(valid) != valid {
		t.Error("a valid job was copied")
	}
}
