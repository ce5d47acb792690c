package api

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// Encoding a request without reflection.
//
// A CLI call encodes one request and exits, so encoding/json meets the
// request's types cold: it walks every field of Request and StartRequest by
// reflection before it writes a byte, about 0.5 ms on this kind of machine,
// a tenth of a whole `bgjob start`. appendRequest writes the requests the
// CLI makes most (start, get, receive, wait, stop, remove) directly, and
// says when a request has something it leaves to encoding/json (a stored
// definition, a restart, a start sent again, a time, a string that is not
// UTF-8 and so needs StartRequest's "raw"): those go through json.Marshal
// as before. Both decode to the same request; TestAppendRequestFields
// holds every field of the types to that, so a field added later without a
// line here fails it.

// encodeRequest returns req as JSON.
func encodeRequest(req *Request) ([]byte, error) {
	w := wire{b: make([]byte, 0, 1024), ok: true}
	if w.request(req); w.ok {
		return w.b, nil
	}
	return json.Marshal(req)
}

// wire appends JSON. ok turns false at the first value it leaves to
// encoding/json; what was written by then is thrown away.
type wire struct {
	b     []byte
	ok    bool
	first bool // no member written yet in the object being written
}

func (w *wire) request(r *Request) {
	if r.Definition != nil || r.Restart != nil || r.Queue != nil || r.Edit != nil || r.Events != nil || r.Send != nil || len(r.Resume) > 0 {
		w.ok = false
		return
	}
	w.open()
	w.str("op", r.Op, false)
	w.strs("jobs", r.Jobs)
	if r.Start != nil {
		w.key("start")
		w.start(r.Start)
	}
	if f := r.Filter; f != nil {
		if f.Before != nil || f.After != nil {
			w.ok = false
			return
		}
		w.key("filter")
		w.open()
		w.str("state", f.State, true)
		w.str("command", f.Command, true)
		if f.HasMoreData != nil {
			w.key("hasMoreData")
			w.b = strconv.AppendBool(w.b, *f.HasMoreData)
		}
		w.str("type", f.Type, true)
		w.int("newest", int64(f.Newest))
		w.str("group", f.Group, true)
		w.flag("includeChildJobs", f.IncludeChildJobs)
		w.str("childJobState", f.ChildJobState, true)
		w.close()
	}
	w.str("output", r.Output, true)
	w.flag("keep", r.Keep)
	w.flag("wait", r.Wait)
	w.flag("autoRemove", r.AutoRemove)
	w.flag("any", r.Any)
	w.flag("force", r.Force)
	w.flag("passThru", r.PassThru)
	w.flag("verbose", r.Verbose)
	w.flag("debug", r.Debug)
	if r.Timeout != 0 {
		w.key("timeout")
		w.float(r.Timeout)
	}
	w.str("signal", r.Signal, true)
	w.flag("prefix", r.Prefix)
	if r.Tail != nil {
		w.key("tail")
		w.b = strconv.AppendInt(w.b, int64(*r.Tail), 10)
	}
	w.str("location", r.Location, true)
	if t := r.Term; t != nil {
		w.key("term")
		w.open()
		w.flag("color", t.Color)
		w.int("width", int64(t.Width))
		w.flag("progress", t.Progress)
		w.close()
	}
	w.flag("acks", r.Acks)
	w.flag("marks", r.Marks)
	w.close()
}

func (w *wire) start(s *StartRequest) {
	if s.Slurm != nil || s.SSH != nil || s.StartAt != nil {
		w.ok = false
		return
	}
	w.open()
	w.str("name", s.Name, true)
	w.str("instanceId", s.InstanceID, true)
	w.str("type", s.Type, true)
	w.str("definitionName", s.DefinitionName, true)
	w.str("definitionPath", s.DefinitionPath, true)
	w.str("script", s.Script, true)
	w.str("file", s.File, true)
	w.str("literalPath", s.LiteralPath, true)
	w.str("init", s.Init, true)
	w.str("initFile", s.InitFile, true)
	w.strs("args", s.Args)
	if len(s.Input) > 0 {
		w.key("input")
		w.b = append(w.b, '"')
		w.b = base64.StdEncoding.AppendEncode(w.b, s.Input)
		w.b = append(w.b, '"')
	}
	w.str("workdir", s.Workdir, false)
	w.strs("env", s.Env)
	w.strs("envAdd", s.EnvAdd)
	if s.Umask != nil {
		w.key("umask")
		w.b = strconv.AppendUint(w.b, uint64(*s.Umask), 10)
	}
	w.str("runtime", s.Runtime, true)
	w.str("runtimeVersion", s.RuntimeVersion, true)
	w.flag("runAs32", s.RunAs32)
	w.flag("thread", s.Thread)
	w.int("throttleLimit", int64(s.ThrottleLimit))
	w.strs("forEach", s.ForEach)
	w.flag("processes", s.Processes)
	w.str("credential", s.Credential, true)
	w.str("password", s.Password, true)
	w.str("authentication", s.Authentication, true)
	w.str("command", s.Command, true)
	w.strs("after", s.After)
	w.flag("afterAnyState", s.AfterAnyState)
	w.str("group", s.Group, true)
	w.int("priority", int64(s.Priority))
	w.str("location", s.Location, true)
	w.flag("mergeError", s.MergeError)
	w.int("timeout", int64(s.Timeout))
	w.int("retries", int64(s.Retries))
	w.int("retryDelay", int64(s.RetryDelay))
	w.str("onEnd", s.OnEnd, true)
	w.flag("stdinOpen", s.StdinOpen)
	w.close()
}

func (w *wire) open() {
	w.b = append(w.b, '{')
	w.first = true
}

// close ends an object; the object is itself a member of the one around
// it, so that one has a member written.
func (w *wire) close() {
	w.b = append(w.b, '}')
	w.first = false
}

func (w *wire) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// str writes a string member; omitEmpty leaves out an empty one, as the
// field's omitempty does.
func (w *wire) str(k, v string, omitEmpty bool) {
	if v == "" && omitEmpty {
		return
	}
	w.key(k)
	w.quote(v)
}

func (w *wire) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.quote(s)
	}
	w.b = append(w.b, ']')
}

func (w *wire) flag(k string, v bool) {
	if v {
		w.key(k)
		w.b = append(w.b, "true"...)
	}
}

func (w *wire) int(k string, v int64) {
	if v != 0 {
		w.key(k)
		w.b = strconv.AppendInt(w.b, v, 10)
	}
}

func (w *wire) float(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.ok = false // json.Marshal's error says so
		return
	}
	w.b = strconv.AppendFloat(w.b, v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// quote writes s as a JSON string. A string that is not UTF-8 is left to
// encoding/json, which repairs it (and StartRequest keeps its bytes in
// "raw").
func (w *wire) quote(s string) {
	if !utf8.ValidString(s) {
		w.ok = false
		return
	}
	w.b = append(w.b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.b = append(w.b, s[start:i]...)
		switch c {
		case '"', '\\':
			w.b = append(w.b, '\\', c)
		case '\n':
			w.b = append(w.b, '\\', 'n')
		case '\r':
			w.b = append(w.b, '\\', 'r')
		case '\t':
			w.b = append(w.b, '\\', 't')
		default:
			w.b = append(w.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

// Decoding the two small answers every call reads (the hello and the
// result) without reflection, for the same reason: encoding/json meets
// their types cold in every call, 0.08 ms. decodeFlat reads an object of
// numbers, booleans and strings into the fields set names; anything else
// (a nested value, an escape in a string, a key it does not know) is left
// to encoding/json, which gives the same answer.

// flatField is where decodeFlat puts one member's value.
type flatField struct {
	num  *int
	flag *bool
	str  *string
}

// decodeFlat decodes b into fields, by key, or into v with encoding/json
// when it cannot.
func decodeFlat(b []byte, fields map[string]flatField, v any) error {
	if decodeFlatFast(b, fields) {
		return nil
	}
	return json.Unmarshal(b, v)
}

func decodeFlatFast(b []byte, fields map[string]flatField) bool {
	i := 0
	skip := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	// str reads a string without escapes at b[i].
	str := func() (string, bool) {
		if i >= len(b) || b[i] != '"' {
			return "", false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' || b[j] < 0x20 {
				return "", false
			}
			j++
		}
		if j >= len(b) || !utf8.Valid(b[i+1:j]) {
			return "", false
		}
		s := string(b[i+1 : j])
		i = j + 1
		return s, true
	}
	skip()
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	skip()
	if i < len(b) && b[i] == '}' {
		i++
		skip()
		return i == len(b)
	}
	for {
		skip()
		k, ok := str()
		f, known := fields[k]
		if !ok || !known {
			return false
		}
		skip()
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i++
		skip()
		switch {
		case f.str != nil:
			s, ok := str()
			if !ok {
				return false
			}
			*f.str = s
		case f.flag != nil:
			switch {
			case len(b)-i >= 4 && string(b[i:i+4]) == "true":
				*f.flag, i = true, i+4
			case len(b)-i >= 5 && string(b[i:i+5]) == "false":
				*f.flag, i = false, i+5
			default:
				return false
			}
		case f.num != nil:
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			n, err := strconv.Atoi(string(b[i:j]))
			if err != nil || j-i > 1 && b[i] == '0' || j-i > 2 && b[i] == '-' && b[i+1] == '0' {
				return false
			}
			*f.num, i = n, j
		}
		skip()
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			i++
			skip()
			return i == len(b)
		default:
			return false
		}
	}
}

// decodeHello decodes a FrameHello payload.
func decodeHello(b []byte, h *Hello) error {
	return decodeFlat(b, map[string]flatField{"version": {num: &h.Version}, "pid": {num: &h.Pid}, "acks": {flag: &h.Acks}}, h)
}

// decodeResult decodes a FrameResult payload.
func decodeResult(b []byte, r *Result) error {
	return decodeFlat(b, map[string]flatField{"code": {num: &r.Code}, "error": {str: &r.Error}}, r)
}
