package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// leftToJSON are the fields appendRequest leaves to encoding/json: a
// request with one of them set is encoded by json.Marshal.
var leftToJSON = map[string]bool{
	"Request.Definition": true, "Request.Restart": true, "Request.Queue": true,
	"Request.Edit": true, "Request.Events": true, "Request.Send": true, "Request.Resume": true,
	"StartRequest.Slurm": true, "StartRequest.SSH": true, "StartRequest.StartAt": true,
	"Filter.Before": true, "Filter.After": true,
}

// sample is a value of type t that is not its zero value, made to be hard
// to encode: quotes, escapes, control characters, non-ASCII, negative and
// fractional numbers.
func sample(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		v.SetString("a\"b\\c\nd\te\x01\x1f<&>é☃\u2028/")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(9)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5e-7)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{0, 1, 2, 0xfe, 0xff})
			break
		}
		v.Set(reflect.Append(v, sample(t.Elem()), reflect.Zero(t.Elem())))
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if t.Elem().Kind() != reflect.Struct {
			p.Elem().Set(sample(t.Elem()))
		}
		v.Set(p)
	}
	return v
}

// sameDecoded fails t unless b, from appendRequest, decodes to what
// json.Marshal's encoding of req decodes to.
func sameDecoded(t *testing.T, name string, req *Request, b []byte) {
	t.Helper()
	want, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("%s: json.Marshal: %v", name, err)
	}
	var got, exp Request
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %s is not JSON a host reads: %v", name, b, err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: decodes differently\nappendRequest: %s\njson.Marshal:  %s", name, b, want)
	}
}

// TestAppendRequestFields sets each field of the request types alone and
// checks that appendRequest either encodes it as encoding/json does or
// leaves the request to encoding/json, as listed: a field added to a type
// without a line in appendRequest fails here, rather than being dropped on
// the way to the host.
func TestAppendRequestFields(t *testing.T) {
	types := []struct {
		name string
		in   func(*Request) reflect.Value // the struct inside req
	}{
		{"Request", func(r *Request) reflect.Value { return reflect.ValueOf(r).Elem() }},
		{"StartRequest", func(r *Request) reflect.Value { r.Start = &StartRequest{}; return reflect.ValueOf(r.Start).Elem() }},
		{"Filter", func(r *Request) reflect.Value { r.Filter = &Filter{}; return reflect.ValueOf(r.Filter).Elem() }},
		{"Terminal", func(r *Request) reflect.Value { r.Term = &Terminal{}; return reflect.ValueOf(r.Term).Elem() }},
	}
	for _, ty := range types {
		n := ty.in(&Request{}).NumField()
		for i := 0; i < n; i++ {
			req := &Request{Op: OpStart}
			s := ty.in(req)
			f := s.Type().Field(i)
			name := ty.name + "." + f.Name
			if ty.name == "Request" && (f.Name == "Start" || f.Name == "Filter" || f.Name == "Term") {
				continue // their fields are checked one by one
			}
			s.Field(i).Set(sample(f.Type))
			w := wire{ok: true}
			w.request(req)
			switch {
			case !w.ok && !leftToJSON[name]:
				t.Errorf("%s: appendRequest leaves it to encoding/json, but leftToJSON does not list it", name)
			case w.ok && leftToJSON[name]:
				t.Errorf("%s: listed in leftToJSON, but appendRequest encodes it", name)
			case w.ok:
				sameDecoded(t, name, req, w.b)
			}
		}
	}
}

// TestAppendRequestCLI checks requests as the CLI makes them: every
// field appendRequest writes set at once, and the common calls.
func TestAppendRequestCLI(t *testing.T) {
	umask, tail, more := uint32(0o22), 3, false
	full := &Request{Op: OpStart, Jobs: []string{"1", "Job*"}, Output: FormatJSON, Keep: true, Wait: true,
		AutoRemove: true, Any: true, Force: true, PassThru: true, Verbose: true, Debug: true, Timeout: 2.5,
		Signal: "TERM", Prefix: true, Tail: &tail, Location: "ssh", Term: &Terminal{Color: true, Width: 120, Progress: true}, Acks: true,
		Filter: &Filter{State: "Running", Command: "x*", HasMoreData: &more, Type: "BackgroundJob", Newest: 20, Group: "g", IncludeChildJobs: true, ChildJobState: "Failed"},
		Start: &StartRequest{Name: "n", InstanceID: NewInstanceID(), Type: "T", DefinitionName: "d", DefinitionPath: "/d",
			Script: "echo \"$1\"\n", File: "/f", LiteralPath: "/l", Init: "i", InitFile: "/i", Args: []string{"a b", ""},
			Input: []byte("in\x00put"), Workdir: "/w", Env: []string{"A=1", "B=\t"}, EnvAdd: []string{"C=3"}, Umask: &umask,
			Runtime: "shell", RuntimeVersion: "^2", RunAs32: true, Thread: true, ThrottleLimit: 4, ForEach: []string{"x", "y"},
			Processes: true, Credential: "bob", Password: "pw", Authentication: "Default", Command: "echo", After: []string{"1"}, AfterAnyState: true,
			Group: "g", Priority: -2, Location: "localhost", MergeError: true, Timeout: time.Minute, Retries: 2,
			RetryDelay: time.Second, OnEnd: "true", StdinOpen: true}}
	cases := map[string]*Request{
		"everything":   full,
		"start":        {Op: OpStart, Start: &StartRequest{Script: "true", Workdir: "/tmp", Env: []string{"PATH=/bin"}, Umask: &umask}},
		"start --wait": {Op: OpStart, Wait: true, AutoRemove: true, Start: &StartRequest{Script: "echo hi", Workdir: "/"}},
		"get":          {Op: OpGet, Filter: &Filter{Newest: 1}},
		"receive":      {Op: OpReceive, Jobs: []string{"3"}, Wait: true, Acks: true},
		"empty":        {},
	}
	for name, req := range cases {
		w := wire{ok: true}
		w.request(req)
		if !w.ok {
			t.Fatalf("%s: left to encoding/json", name)
		}
		sameDecoded(t, name, req, w.b)
		b, err := encodeRequest(req)
		if err != nil || string(b) != string(w.b) {
			t.Errorf("%s: encodeRequest gave %s, %v", name, b, err)
		}
	}
}

// TestEncodeRequestFallback: what appendRequest leaves to encoding/json
// still arrives whole, the exact bytes of a path that is not UTF-8 among
// it.
func TestEncodeRequestFallback(t *testing.T) {
	for name, req := range map[string]*Request{
		"not UTF-8": {Op: OpStart, Start: &StartRequest{Script: "true", Workdir: "/tmp/\xff\xfe"}},
		"--at":      {Op: OpStart, Start: &StartRequest{Script: "true", StartAt: new(time.Time)}},
		"queue":     {Op: OpQueue, Queue: &QueueRequest{}},
	} {
		b, err := encodeRequest(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got Request
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(&got, req) {
			t.Errorf("%s: sent %+v, the host reads %+v", name, req, &got)
		}
	}
}

// FuzzAppendRequest: any strings in a start encode as encoding/json does,
// or are left to it.
func FuzzAppendRequest(f *testing.F) {
	f.Add("echo hi", "/tmp", "A=1", 1.5)
	f.Add("\"\\\x00\x7f\u2028", "\xff", "é", -1e300)
	f.Fuzz(func(t *testing.T, script, dir, env string, timeout float64) {
		req := &Request{Op: OpStart, Timeout: timeout, Start: &StartRequest{Script: script, Workdir: dir, Env: []string{env}, Args: []string{env, script}}}
		w := wire{ok: true}
		w.request(req)
		if w.ok {
			sameDecoded(t, "fuzzed", req, w.b)
		}
		if _, err := encodeRequest(req); err != nil && w.ok {
			t.Errorf("appendRequest took what json.Marshal refuses: %v", err)
		}
	})
}

// FuzzDecodeHelloResult: the hand-written decoding of the hello and the
// result gives what encoding/json gives, for any bytes, errors included.
func FuzzDecodeHelloResult(f *testing.F) {
	for _, s := range []string{`{"version":1,"pid":42,"acks":true}`, `{"code":0}`, `{"code":7,"error":"no job matches \"x\""}`,
		`{"code":-1,"error":"é"}`, ` { "pid" : 01 } `, `{"Version":2}`, `{"acks":false,"acks":true}`, `{"error":null}`, `{}`, `{"code":1e2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h, hj Hello
		err, errj := decodeHello(b, &h), json.Unmarshal(b, &hj)
		if (err == nil) != (errj == nil) || err == nil && h != hj {
			t.Errorf("hello %q: %+v, %v; encoding/json: %+v, %v", b, h, err, hj, errj)
		}
		var r, rj Result
		err, errj = decodeResult(b, &r), json.Unmarshal(b, &rj)
		if (err == nil) != (errj == nil) || err == nil && r != rj {
			t.Errorf("result %q: %+v, %v; encoding/json: %+v, %v", b, r, err, rj, errj)
		}
	})
}

// TestDecodeFlatFast: the answers a host sends are decoded without
// encoding/json (the point of it), and what it cannot take is left to it.
func TestDecodeFlatFast(t *testing.T) {
	var h Hello
	if !decodeFlatFast([]byte(`{"version":1,"pid":42,"acks":true}`), map[string]flatField{"version": {num: &h.Version}, "pid": {num: &h.Pid}, "acks": {flag: &h.Acks}}) || h != (Hello{1, 42, true}) {
		t.Errorf("hello: %+v", h)
	}
	var r Result
	fields := map[string]flatField{"code": {num: &r.Code}, "error": {str: &r.Error}}
	if !decodeFlatFast([]byte(`{"code":3,"error":"no job matches x"}`), fields) || r != (Result{3, "no job matches x"}) {
		t.Errorf("result: %+v", r)
	}
	for _, s := range []string{`{"code":3,"error":"say \"x\""}`, `{"code":3.5}`, `{"other":1}`, `{"code":3`} {
		if decodeFlatFast([]byte(s), fields) {
			t.Errorf("%s: taken, not left to encoding/json", s)
		}
	}
}
