package scheduled

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/Masterminds/semver/v3"
	"github.com/bgjob/bgjob/sdk"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/robfig/cron/v3"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Defaults of a job block's optional attributes.
const (
	// DefaultRuntime runs a job that names no runtime: the shell runtime
	// runs the scripts users write by hand.
	DefaultRuntime = "shell"
	// DefaultKeep is how many results a job keeps when its block does not
	// say: enough to look back over a day of a job that runs hourly, few
	// enough that a job firing every few seconds does not fill the disk.
	DefaultKeep = 32
)

// CronParser parses a job's triggers: standard five-field cron
// expressions, an optional leading seconds field, and descriptors
// (@hourly, @daily, @every 1h30m, ...). It is exported so that the host,
// which fires the triggers, parses them exactly as the plugin validated
// them: a trigger the listing accepts is one the scheduler understands.
// Prefer ParseTrigger, which also survives the inputs this parser panics
// on.
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseTrigger parses spec with CronParser. robfig/cron v3.0.1 panics on a
// time zone prefix with nothing after it ("TZ=UTC"); ParseTrigger returns
// that as an error, as it does every other bad expression, so a hand-written
// file can never crash the plugin or the host.
func ParseTrigger(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cannot parse %q: %v", spec, r)
		}
	}()
	return CronParser.Parse(spec)
}

// fileSchema is what a definition file may hold at its top level: job
// blocks, each named by its one label. Anything else is hcl's "Unsupported
// argument" or "Unsupported block type".
var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "job", LabelNames: []string{"name"}}},
}

// jobSchema is what a job block may hold. Every attribute is optional to
// hcl; what is required (one of script and script_file) is checked here,
// so the message can say which block lacks it.
var jobSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "script"},
		{Name: "script_file"},
		{Name: "args"},
		{Name: "runtime"},
		{Name: "runtime_version"},
		{Name: "run_as_32"},
		{Name: "workdir"},
		{Name: "env"},
		{Name: "keep"},
		{Name: "catch_up"},
		{Name: "enabled"},
		{Name: "triggers"},
	},
}

// problem is one thing wrong with a definition file, where it is and what
// it is, in hcl's terms so that its own diagnostics and ours read alike.
type problem struct {
	file    string     // the file as found in the directory
	subject *hcl.Range // nil: the file as a whole
	// job names the job block the problem is in, which it keeps from
	// being defined; "" for one outside any job (or in a job whose name
	// is empty).
	job     string
	summary string
	detail  string
}

// Error is "FILE:LINE:COLUMN: summary: detail", the form editors and
// terminals turn into a link, with `job "NAME": ` before the summary for a
// problem in a job block, so a listing says which job is left out; "FILE:
// summary" for the file as a whole.
func (p *problem) Error() string {
	var b strings.Builder
	if p.subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", p.subject.Filename, p.subject.Start.Line, p.subject.Start.Column)
	} else {
		fmt.Fprintf(&b, "%s: ", p.file)
	}
	if p.job != "" {
		fmt.Fprintf(&b, "job %q: ", p.job)
	}
	b.WriteString(p.summary)
	if d := strings.TrimSpace(p.detail); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	return b.String()
}

// position orders problems within a file: the file as a whole first, then
// by line and column.
func (p *problem) position() (int, int) {
	if p.subject == nil {
		return 0, 0
	}
	return p.subject.Start.Line, p.subject.Start.Column
}

// entry is a job block read from a file: its definition as listed, and
// what Resolve still needs to finish it.
type entry struct {
	def *sdk.Definition
	// The block's header, in the file as found in the directory
	// (DIR/name.hcl): where a message about the whole job points.
	at hcl.Range
	// scriptFile is the script file resolved against the block's file's
	// directory, read only by Resolve (see Type.Resolve); empty for an
	// inline script.
	scriptFile string
	// problems are what is wrong with the block: any keeps the job from
	// being defined, and only it (the other jobs in its file still are).
	problems []*problem
}

// source is where the job is written, "FILE:LINE".
func (e *entry) source() string { return fmt.Sprintf("%s:%d", e.at.Filename, e.at.Start.Line) }

// fileResult is what one file yields: its job blocks, each of which counts
// only if it has no problems of its own, so that nothing half-valid runs,
// and what is wrong outside them. A file hcl cannot parse yields no jobs.
type fileResult struct {
	path     string
	entries  []*entry
	problems []*problem
}

// loaded is what a definition directory holds: the jobs that can be used
// (in file and block order), the ones that cannot (each with its
// problems), and every problem found, in file and position order.
type loaded struct {
	valid, bad []*entry
	problems   []error
}

// load reads every definition file directly in dir. A dir that does not
// exist holds no definitions and no problems: it is what a user who never
// wrote one has.
func load(ctx context.Context, dir string) loaded {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return loaded{}
	case err != nil:
		return loaded{problems: []error{&problem{file: dir, summary: "Cannot read the definition directory", detail: errText(err)}}}
	case !fi.IsDir():
		return loaded{problems: []error{&problem{file: dir, summary: "Not a directory", detail: "definitions are the *.hcl files in a directory"}}}
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return loaded{problems: []error{&problem{file: dir, summary: "Cannot read the definition directory", detail: errText(err)}}}
	}
	var files []*fileResult
	for _, d := range names {
		if err := ctx.Err(); err != nil {
			return loaded{problems: []error{err}}
		}
		name := d.Name()
		// Hidden files are left alone: editors keep their lock files
		// (.#name.hcl) there, often as dangling symbolic links.
		if !strings.HasSuffix(name, ".hcl") || strings.HasPrefix(name, ".") || d.IsDir() {
			continue
		}
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			continue // a symbolic link to a directory
		}
		files = append(files, parseFile(path))
	}
	checkDuplicates(files)

	var l loaded
	for _, f := range files {
		// A problem outside the job blocks (an unknown top-level
		// attribute, say) is reported, but leaves the blocks as they are:
		// each job is whole in itself.
		all := slices.Clone(f.problems)
		for _, e := range f.entries {
			if len(e.problems) == 0 {
				l.valid = append(l.valid, e)
				continue
			}
			l.bad = append(l.bad, e)
			all = append(all, e.problems...)
		}
		slices.SortStableFunc(all, func(a, b *problem) int {
			al, ac := a.position()
			bl, bc := b.position()
			return cmp.Or(cmp.Compare(al, bl), cmp.Compare(ac, bc))
		})
		for _, p := range all {
			l.problems = append(l.problems, p)
		}
	}
	return l
}

// checkDuplicates reports each job name defined a second time, as a
// problem of its second occurrence, naming the first. Names of jobs with
// other problems count too: the name is defined twice whether or not
// either block is otherwise right, and a fix elsewhere should not turn one
// job into another.
func checkDuplicates(files []*fileResult) {
	first := map[string]*entry{}
	for _, f := range files {
		for _, e := range f.entries {
			if e.def.Name == "" {
				continue
			}
			// Names match without regard to case (foldName), so
			// "Backup" and "backup" are one name defined twice.
			if prev, ok := first[foldName(e.def.Name)]; ok {
				e.problems = append(e.problems, &problem{
					file: f.path, subject: &e.at, job: e.def.Name,
					summary: "Duplicate job name",
					detail:  fmt.Sprintf("a job named %q is already defined at %s", e.def.Name, prev.source()),
				})
				continue
			}
			first[foldName(e.def.Name)] = e
		}
	}
}

// parseFile reads the job blocks of one file, each with its own problems.
func parseFile(path string) *fileResult {
	res := &fileResult{path: path}
	src, err := os.ReadFile(path)
	if err != nil {
		res.problems = append(res.problems, &problem{file: path, summary: "Cannot read the file", detail: errText(err)})
		return res
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		// Past a syntax error the rest of the file reads as noise.
		res.addDiags(diags)
		return res
	}
	content, diags := f.Body.Content(fileSchema)
	res.addDiags(diags)
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	for _, block := range content.Blocks {
		d := &decoder{path: path, e: &entry{}}
		res.entries = append(res.entries, d.job(block, dir))
	}
	return res
}

// addDiags records hcl's own error diagnostics as problems of the file as
// a whole; its warnings are not problems.
func (r *fileResult) addDiags(diags hcl.Diagnostics) {
	r.problems = append(r.problems, diagProblems(r.path, "", diags)...)
}

// diagProblems are hcl's error diagnostics as problems of the job named
// job ("" for none) in file.
func diagProblems(file, job string, diags hcl.Diagnostics) []*problem {
	var out []*problem
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		out = append(out, &problem{file: file, subject: d.Subject, job: job, summary: d.Summary, detail: d.Detail})
	}
	return out
}

// decoder turns one job block into an entry, recording in the entry every
// problem it meets rather than stopping at the first, so one pass over a
// file shows all that is wrong with it.
type decoder struct {
	path string // the file, as found in the directory
	e    *entry
}

func (d *decoder) errorf(at hcl.Range, summary, format string, args ...any) {
	d.e.problems = append(d.e.problems, &problem{file: d.path, subject: &at, job: d.e.def.Name, summary: summary, detail: fmt.Sprintf(format, args...)})
}

// addDiags records hcl's error diagnostics as the job's problems.
func (d *decoder) addDiags(diags hcl.Diagnostics) {
	d.e.problems = append(d.e.problems, diagProblems(d.path, d.e.def.Name, diags)...)
}

// job decodes a job block whose file is in dir (absolute). It returns the
// entry with whatever could be decoded, problems or not.
func (d *decoder) job(block *hcl.Block, dir string) *entry {
	name := block.Labels[0]
	def := &sdk.Definition{Name: name, Runtime: DefaultRuntime, Keep: DefaultKeep}
	e := d.e
	e.def, e.at = def, block.DefRange
	def.Source = e.source()
	if msg := checkName(name); msg != "" {
		d.errorf(block.LabelRanges[0], "Invalid job name", "%s", msg)
	}
	content, diags := block.Body.Content(jobSchema)
	d.addDiags(diags)
	attrs := content.Attributes

	scriptAttr, fileAttr := attrs["script"], attrs["script_file"]
	before := len(e.problems)
	script, hasScript := d.str(scriptAttr)
	file, hasFile := d.str(fileAttr)
	switch {
	case scriptAttr != nil && fileAttr != nil:
		d.errorf(block.DefRange, "Conflicting script", "it sets both script and script_file; give one")
	case !hasScript && !hasFile && len(e.problems) == before:
		// Neither is written (or one is null); a wrong type was reported.
		d.errorf(block.DefRange, "Missing script", "it needs script (the script itself) or script_file (a file holding it)")
	case hasScript:
		def.Script = script
		def.Command = firstLine(script)
	case hasFile && file == "":
		d.errorf(fileAttr.Expr.Range(), "Invalid script_file", "script_file must name a file")
	case hasFile:
		def.Command = file
		e.scriptFile = resolvePath(dir, file)
	}
	def.Args = d.strings(attrs["args"])
	if rt, ok := d.str(attrs["runtime"]); ok {
		if rt == "" {
			d.errorf(attrs["runtime"].Expr.Range(), "Invalid runtime", "runtime must name a runtime (the default is %q)", DefaultRuntime)
		}
		def.Runtime = rt
	}
	if c, ok := d.str(attrs["runtime_version"]); ok && c != "" {
		if _, err := semver.NewConstraint(c); err != nil {
			d.errorf(attrs["runtime_version"].Expr.Range(), "Invalid runtime_version", "%q is not a version constraint (such as \"~2.0\" or \">=1.2, <3\"): %v", c, err)
		}
		def.RuntimeVersion = c
	}
	def.RunAs_32, _ = d.boolean(attrs["run_as_32"])
	if w, ok := d.str(attrs["workdir"]); ok && w != "" {
		def.Workdir = resolvePath(dir, w)
	}
	def.Env = d.env(attrs["env"])
	if k, ok := d.keep(attrs["keep"]); ok {
		def.Keep = k
	}
	def.CatchUp, _ = d.boolean(attrs["catch_up"])
	if on, ok := d.boolean(attrs["enabled"]); ok {
		def.Disabled = !on
	}
	def.Triggers = d.triggers(attrs["triggers"])
	return e
}

// checkName says what is wrong with a job's name, if anything. A name is
// matched as a wildcard pattern by Resolve, so one holding the pattern
// characters could not be named exactly; one holding control characters
// would break the job table.
func checkName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "a job's name must not be empty"
	case strings.ContainsAny(name, `*?[]\`):
		return fmt.Sprintf("%q holds a wildcard character (*, ?, [, ] or \\), so it could not be named exactly", name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Sprintf("%q holds a control character", name)
	}
	return ""
}

// value evaluates attr's expression with no variables and no functions: a
// definition is data. It returns false for an absent or null attribute
// (null is how hcl says "unset"), or one that does not evaluate.
func (d *decoder) value(expr hcl.Expression) (cty.Value, bool) {
	v, diags := expr.Value(nil)
	d.addDiags(diags)
	if diags.HasErrors() || v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

// want checks that v, the value of what is named, is of type t. Values are
// not converted (keep = "5" is an error, not 5): a definition is written
// by hand, and a value of the wrong kind is more likely a slip than a wish.
func (d *decoder) want(v cty.Value, t cty.Type, what string, at hcl.Range) bool {
	if v.IsNull() {
		d.errorf(at, "Incorrect attribute value type", "%s must be %s, not null", what, article(t))
		return false
	}
	if v.Type().Equals(t) {
		return true
	}
	d.errorf(at, "Incorrect attribute value type", "%s must be %s, not %s", what, article(t), article(v.Type()))
	return false
}

func article(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a bool"
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "an object"
	}
	return t.FriendlyName()
}

func (d *decoder) str(attr *hcl.Attribute) (string, bool) {
	if attr == nil {
		return "", false
	}
	v, ok := d.value(attr.Expr)
	if !ok || !d.want(v, cty.String, attr.Name, attr.Expr.Range()) {
		return "", false
	}
	return v.AsString(), true
}

func (d *decoder) boolean(attr *hcl.Attribute) (bool, bool) {
	if attr == nil {
		return false, false
	}
	v, ok := d.value(attr.Expr)
	if !ok || !d.want(v, cty.Bool, attr.Name, attr.Expr.Range()) {
		return false, false
	}
	return v.True(), true
}

func (d *decoder) keep(attr *hcl.Attribute) (int32, bool) {
	if attr == nil {
		return 0, false
	}
	v, ok := d.value(attr.Expr)
	if !ok || !d.want(v, cty.Number, attr.Name, attr.Expr.Range()) {
		return 0, false
	}
	f := v.AsBigFloat()
	n, acc := f.Int64()
	switch {
	case !f.IsInt():
		d.errorf(attr.Expr.Range(), "Invalid keep", "keep must be a whole number of results, not %s", f.Text('g', -1))
	case f.Sign() < 0:
		d.errorf(attr.Expr.Range(), "Invalid keep", "keep must not be negative (0 keeps every result), but is %s", f.Text('g', -1))
	case acc != 0 || n > math.MaxInt32:
		d.errorf(attr.Expr.Range(), "Invalid keep", "keep must be at most %d (0 keeps every result)", math.MaxInt32)
	default:
		return int32(n), true
	}
	return 0, false
}

// item is one element of a list attribute and where it is written.
type item struct {
	v  cty.Value
	at hcl.Range
}

// list evaluates a list attribute element by element when it is written
// as a list ([a, b]), so that a problem points at its element, and as a
// whole otherwise.
func (d *decoder) list(attr *hcl.Attribute) []item {
	if attr == nil {
		return nil
	}
	var items []item
	if tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok {
		for _, x := range tuple.Exprs {
			v, diags := x.Value(nil)
			d.addDiags(diags)
			if !diags.HasErrors() {
				items = append(items, item{v, x.Range()})
			}
		}
		return items
	}
	v, ok := d.value(attr.Expr)
	if !ok {
		return nil
	}
	if t := v.Type(); !t.IsTupleType() && !t.IsListType() && !t.IsSetType() {
		d.errorf(attr.Expr.Range(), "Incorrect attribute value type", "%s must be a list, not %s", attr.Name, article(t))
		return nil
	}
	for it := v.ElementIterator(); it.Next(); {
		_, x := it.Element()
		items = append(items, item{x, attr.Expr.Range()})
	}
	return items
}

// strings decodes a list of strings.
func (d *decoder) strings(attr *hcl.Attribute) []string {
	var out []string
	for i, x := range d.list(attr) {
		if !x.v.IsKnown() || !d.want(x.v, cty.String, fmt.Sprintf("%s[%d]", attr.Name, i), x.at) {
			continue
		}
		out = append(out, x.v.AsString())
	}
	return out
}

// triggers decodes the cron expressions, each checked with ParseTrigger.
func (d *decoder) triggers(attr *hcl.Attribute) []string {
	var out []string
	for i, x := range d.list(attr) {
		if !x.v.IsKnown() || !d.want(x.v, cty.String, fmt.Sprintf("triggers[%d]", i), x.at) {
			continue
		}
		spec := x.v.AsString()
		if _, err := ParseTrigger(spec); err != nil {
			d.errorf(x.at, "Invalid trigger", "%q is not a cron expression (minute hour day-of-month month day-of-week, an optional leading seconds field, or a descriptor such as @hourly): %v", spec, err)
			continue
		}
		out = append(out, spec)
	}
	return out
}

// env decodes the environment additions, KEY=VALUE sorted by key. Written
// as an object ({ KEY = "value" }), each key and value is checked where it
// is written.
func (d *decoder) env(attr *hcl.Attribute) []string {
	if attr == nil {
		return nil
	}
	type pair struct {
		k, v     cty.Value
		kAt, vAt hcl.Range
	}
	var pairs []pair
	if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, it := range obj.Items {
			k, kd := it.KeyExpr.Value(nil)
			v, vd := it.ValueExpr.Value(nil)
			d.addDiags(kd)
			d.addDiags(vd)
			if !kd.HasErrors() && !vd.HasErrors() {
				pairs = append(pairs, pair{k, v, it.KeyExpr.Range(), it.ValueExpr.Range()})
			}
		}
	} else if v, ok := d.value(attr.Expr); ok {
		if t := v.Type(); !t.IsObjectType() && !t.IsMapType() {
			d.errorf(attr.Expr.Range(), "Incorrect attribute value type", "env must be an object ({ KEY = \"value\" }), not %s", article(t))
			return nil
		}
		for it := v.ElementIterator(); it.Next(); {
			k, x := it.Element()
			pairs = append(pairs, pair{k, x, attr.Expr.Range(), attr.Expr.Range()})
		}
	}
	vars := map[string]string{}
	for _, p := range pairs {
		k, err := convert.Convert(p.k, cty.String)
		if err != nil || k.IsNull() || !k.IsKnown() {
			d.errorf(p.kAt, "Invalid env name", "an environment variable's name must be a string")
			continue
		}
		key := k.AsString()
		switch {
		case key == "" || strings.ContainsAny(key, "=\x00"):
			d.errorf(p.kAt, "Invalid env name", "%q cannot name an environment variable (it is empty, or holds '=' or NUL)", key)
			continue
		case seen(vars, key):
			d.errorf(p.kAt, "Duplicate env name", "env sets %s twice", key)
			continue
		}
		if !p.v.IsKnown() || !d.want(p.v, cty.String, "env."+key, p.vAt) {
			continue
		}
		vars[key] = p.v.AsString()
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
	}
	return out
}

func seen(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// resolvePath is p as written in a file in dir: absolute as it is,
// relative to dir otherwise.
func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// firstLine is what the job table shows of an inline script: its first
// line with text in it.
func firstLine(script string) string {
	for line := range strings.Lines(script) {
		if l := strings.TrimSpace(line); l != "" {
			return l
		}
	}
	return ""
}

// errText is err without the operation and path os adds, which a problem
// already says.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
