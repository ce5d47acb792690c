package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Strings that are not UTF-8 (on Unix, arguments, environment, paths and
// scripts are bytes) cross the CLI's socket exactly; valid ones encode as
// before, with no "raw".
func TestStartRequestBytesRoundTrip(t *testing.T) {
	in := StartRequest{
		Name: "n", Script: "printf %s 'e\xfdf'", File: "f\xfe.sh", LiteralPath: "l\xff", Init: "i\xff", InitFile: "if\xff",
		Workdir: "/tmp/dir\xff", DefinitionPath: "/d\xff", Args: []string{"ok", "a\xffb", ""},
		Env: []string{"A=1", "W=w\xff"}, EnvAdd: []string{"V=c\xffd"}, Input: []byte("in\xff"),
	}
	b, err := json.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out StartRequest
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip changed the request:\n in  %+v\n out %+v", in, out)
	}
	// Inside a Request too, as the CLI sends it.
	var req Request
	b, _ = json.Marshal(&Request{Op: OpStart, Start: &in})
	if err := json.Unmarshal(b, &req); err != nil || !reflect.DeepEqual(*req.Start, in) {
		t.Errorf("in a Request: %+v, %v", req.Start, err)
	}

	plain := StartRequest{Script: "echo é", Args: []string{"x"}, Workdir: "/tmp"}
	b, _ = json.Marshal(plain)
	if strings.Contains(string(b), `"raw"`) {
		t.Errorf("a valid request carries raw: %s", b)
	}
	// Raw keys that name nothing are ignored.
	if err := json.Unmarshal([]byte(`{"script":"x","args":["a"],"raw":{"args.5":"eA==","nope":"eA==","args.x":"eA=="}}`), &out); err != nil || out.Script != "x" || out.Args[0] != "a" {
		t.Errorf("unknown raw keys: %+v %v", out, err)
	}
}
