package api

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// On Unix a script, an argument, an environment variable or a path is
// bytes, not necessarily UTF-8, and a job must get exactly what it was
// given; but encoding/json writes each invalid byte of a string as U+FFFD.
// So a StartRequest carries the exact bytes of such strings a second time,
// base64-encoded in "raw" (keyed by the field's JSON name, and
// "name.index" for an item of a list), and puts them back when decoded.
// The string fields still hold the repaired text, which is what a host
// that predates "raw" gets.

// startRequestJSON is StartRequest without its JSON methods.
type startRequestJSON StartRequest

type startRequestWire struct {
	*startRequestJSON
	Raw map[string][]byte `json:"raw,omitempty"`
}

// rawFields are the request's strings that may be bytes: paths, script
// text, arguments and environment.
func (r *StartRequest) rawFields() (map[string]*string, map[string]*[]string) {
	return map[string]*string{
			"script": &r.Script, "file": &r.File, "literalPath": &r.LiteralPath,
			"init": &r.Init, "initFile": &r.InitFile, "workdir": &r.Workdir,
			"definitionPath": &r.DefinitionPath,
		}, map[string]*[]string{
			"args": &r.Args, "env": &r.Env, "envAdd": &r.EnvAdd,
		}
}

// MarshalJSON encodes r, with the exact bytes of any string that is not
// UTF-8 in "raw".
func (r StartRequest) MarshalJSON() ([]byte, error) {
	w := startRequestWire{startRequestJSON: (*startRequestJSON)(&r)}
	one, lists := r.rawFields()
	for k, p := range one {
		if !utf8.ValidString(*p) {
			w.add(k, *p)
		}
	}
	for k, p := range lists {
		for i, s := range *p {
			if !utf8.ValidString(s) {
				w.add(k+"."+strconv.Itoa(i), s)
			}
		}
	}
	return json.Marshal(w)
}

func (w *startRequestWire) add(key, s string) {
	if w.Raw == nil {
		w.Raw = map[string][]byte{}
	}
	w.Raw[key] = []byte(s)
}

// UnmarshalJSON decodes r, putting back the exact bytes "raw" carries.
// Keys it does not know are ignored, as unknown fields are.
func (r *StartRequest) UnmarshalJSON(b []byte) error {
	w := startRequestWire{startRequestJSON: (*startRequestJSON)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	one, lists := r.rawFields()
	for k, v := range w.Raw {
		if p, ok := one[k]; ok {
			*p = string(v)
			continue
		}
		name, idx, ok := strings.Cut(k, ".")
		p, known := lists[name]
		i, err := strconv.Atoi(idx)
		if !ok || !known || err != nil || i < 0 || i >= len(*p) {
			continue
		}
		(*p)[i] = string(v)
	}
	return nil
}
