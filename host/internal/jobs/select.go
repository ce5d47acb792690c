package jobs

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// selectLocked returns the jobs the selectors name, in id order, each once,
// among those c may see. A selector is an id, an instance id, or a name with
// wildcards (* ? [...]). With no selectors it returns every job c may see.
// A selector with wildcards may match no job, as in PowerShell (Get-Job
// -Name 'x*' finds nothing, and says nothing): 'bgjob remove '*' && ...'
// goes on with an empty table. An id or an exact name that matches nothing
// is ErrNotFound.
// Another user's job is, to c, a job that does not exist.
//
// Child jobs (of a job on several nodes) are selected by id, instance id or
// their exact name; "every job" and Wildcard patterns mean parent jobs, as
// in PowerShell, whose parent stands for its children.
func (t *Table) SelectLocked(c Caller, sel []string) ([]*Job, error) {
	if len(sel) == 0 {
		out := make([]*Job, 0, len(t.jobs))
		for _, j := range t.jobs {
			if j.VisibleTo(c) && j.Row.Parent == 0 {
				out = append(out, j)
			}
		}
		SortJobs(out)
		return out, nil
	}
	seen := map[uint64]bool{}
	var out []*Job
	for _, s := range sel {
		var matches []*Job
		if id, err := strconv.ParseUint(s, 10, 64); err == nil {
			// An id names one job: no need to look at the others.
			if j := t.jobs[id]; j != nil && j.VisibleTo(c) {
				matches = append(matches, j)
			}
		} else {
			name := CompileWildcard(s)
			pattern := IsPattern(s)
			for _, j := range t.jobs {
				if j.VisibleTo(c) && (strings.EqualFold(j.Row.InstanceID, s) || name.Match(j.Row.Name) && (j.Row.Parent == 0 || !pattern)) {
					matches = append(matches, j)
				}
			}
		}
		if len(matches) == 0 {
			if IsPattern(s) {
				continue
			}
			return nil, notFound(s)
		}
		for _, j := range matches {
			if !seen[j.Row.ID] {
				seen[j.Row.ID] = true
				out = append(out, j)
			}
		}
	}
	SortJobs(out)
	return out, nil
}

// WithChildren is js with each parent's child jobs after it.
func WithChildren(js []*Job) []*Job {
	seen := map[*Job]bool{}
	var out []*Job
	for _, j := range js {
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
		for _, k := range j.Children {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// ExpandParents is js with each parent replaced by its child jobs, which
// hold its records.
func ExpandParents(js []*Job) []*Job {
	seen := map[*Job]bool{}
	var out []*Job
	for _, j := range js {
		group := []*Job{j}
		if len(j.Children) > 0 {
			group = j.Children
		}
		for _, k := range group {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

func SortJobs(js []*Job) {
	sort.Slice(js, func(a, b int) bool { return js[a].Row.ID < js[b].Row.ID })
}

// SelectOption narrows the jobs a call selects.
type SelectOption func(*selectOptions)

type selectOptions struct {
	state string
	group string
	// untilFinished: Wait does not return on a suspended job.
	untilFinished bool
}

// InGroup keeps the selected jobs in queue group g; "" keeps all.
func InGroup(g string) SelectOption {
	return func(o *selectOptions) { o.group = g }
}

// UntilFinished makes Wait wait for suspended jobs to finish too (wait
// --force); without it, as Wait-Job does, a suspended job ends the wait.
func UntilFinished() SelectOption {
	return func(o *selectOptions) { o.untilFinished = true }
}

// InState keeps the selected jobs in state (any case), as PowerShell's
// -State does; "" keeps all. With it, no selectors means every job, and
// selecting none is no error.
func InState(state string) SelectOption {
	return func(o *selectOptions) { o.state = state }
}

// ParseState reads a state name without regard to case.
func ParseState(s string) (api.State, error) {
	if s == "" {
		return "", nil
	}
	for _, st := range api.AllStates {
		if strings.EqualFold(string(st), s) {
			return st, nil
		}
	}
	names := make([]string, len(api.AllStates))
	for i, st := range api.AllStates {
		names[i] = string(st)
	}
	return "", errorf(ErrBadRequest, "unknown state %q; states are %s", s, strings.Join(names, ", "))
}

// selectFiltered is selectLocked narrowed by opts.
func (t *Table) SelectFiltered(c Caller, sel []string, opts []SelectOption) ([]*Job, error) {
	var o selectOptions
	for _, f := range opts {
		f(&o)
	}
	state, err := ParseState(o.state)
	if err != nil {
		return nil, err
	}
	js, err := t.SelectLocked(c, sel)
	if err != nil || (state == "" && o.group == "") {
		return js, err
	}
	kept := js[:0]
	for _, j := range js {
		if (state == "" || j.Row.State == state) && (o.group == "" || j.Row.GroupOf() == o.group) {
			kept = append(kept, j)
		}
	}
	return kept, nil
}

// Filtered says whether opts select by anything but selectors.
func Filtered(opts []SelectOption) bool {
	var o selectOptions
	for _, f := range opts {
		f(&o)
	}
	return o.state != "" || o.group != ""
}

// NewestLocked is the views of the n newest jobs c may see, oldest first.
// Ids grow with each job, so the newest are found walking down from the
// largest id; a table with many ids gone (removed jobs), or few jobs c
// may see, is scanned whole instead.
func (t *Table) NewestLocked(c Caller, n int) []*api.Job {
	var top []*Job // by id, descending
	for id, budget := t.maxID, len(t.jobs)+n; id > 0 && budget > 0 && len(top) < n; id, budget = id-1, budget-1 {
		if j := t.jobs[id]; j != nil && j.VisibleTo(c) && j.Row.Parent == 0 {
			top = append(top, j)
		}
	}
	if len(top) < n && t.maxID > uint64(len(t.jobs)+n) {
		top = t.newestScanLocked(c, n)
	}
	out := make([]*api.Job, len(top))
	for i, j := range top {
		out[len(top)-1-i] = j.ViewLocked()
	}
	return out
}

// newestScanLocked is NewestLocked's scan of the whole table.
func (t *Table) newestScanLocked(c Caller, n int) []*Job {
	top := make([]*Job, 0, n+1) // by id, descending
	for _, j := range t.jobs {
		if !j.VisibleTo(c) || j.Row.Parent != 0 || (len(top) == n && j.Row.ID < top[n-1].Row.ID) {
			continue
		}
		i := sort.Search(len(top), func(i int) bool { return top[i].Row.ID < j.Row.ID })
		top = append(top, nil)
		copy(top[i+1:], top[i:])
		top[i] = j
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

// Query returns the jobs c selects that pass the filter (get).
func (t *Table) Query(c Caller, sel []string, f *api.Filter) ([]*api.Job, error) {
	var state, childState api.State
	if f != nil {
		var err error
		if state, err = ParseState(f.State); err != nil {
			return nil, err
		}
		if f.Newest < 0 {
			return nil, errorf(ErrBadRequest, "--newest %d: give a positive number of jobs", f.Newest)
		}
		if childState, err = ParseState(f.ChildJobState); err != nil {
			return nil, err
		}
	}
	t.Lock()
	if f != nil && f.Newest > 0 && len(sel) == 0 && state == "" && f.Command == "" && f.HasMoreData == nil && f.Type == "" && f.Group == "" && !f.IncludeChildJobs &&
		f.Before == nil && f.After == nil && childState == "" {
		// get --newest N of a big table: the N newest rows, without
		// sorting or viewing the rest.
		out := t.NewestLocked(c, f.Newest)
		t.Unlock()
		return out, nil
	}
	js, err := t.SelectLocked(c, sel)
	if childState != "" {
		// Parents with a child in that state (with their children, if
		// asked for, whatever their states).
		js = slices.DeleteFunc(js, func(j *Job) bool {
			return !slices.ContainsFunc(j.Children, func(k *Job) bool { return k.Row.State == childState })
		})
	}
	if f != nil && f.IncludeChildJobs {
		js = WithChildren(js)
	}
	var out []*api.Job
	for _, j := range js {
		out = append(out, j.ViewLocked())
	}
	t.Unlock()
	if err != nil || f == nil {
		return out, err
	}
	kept := out[:0]
	command := CompileWildcard(f.Command)
	for _, v := range out {
		if state != "" && v.State != state {
			continue
		}
		if f.Command != "" {
			if !command.Match(v.Command) {
				continue
			}
		}
		if f.HasMoreData != nil && v.HasMoreData != *f.HasMoreData {
			continue
		}
		if f.Type != "" && !strings.EqualFold(v.PSJobTypeName, f.Type) {
			continue
		}
		if f.Group != "" && v.GroupOf() != f.Group {
			continue
		}
		if began := beganAt(v); f.Before != nil && !began.Before(*f.Before) || f.After != nil && began.Before(*f.After) {
			continue
		}
		kept = append(kept, v)
	}
	if f.Newest > 0 && len(kept) > f.Newest {
		kept = kept[len(kept)-f.Newest:]
	}
	return kept, nil
}

// beganAt is when v began, for get --before and --after: its PSBeginTime,
// or for a job that has not begun, when it was created (it is as new as
// that).
func beganAt(v *api.Job) time.Time {
	if v.PSBeginTime != nil {
		return *v.PSBeginTime
	}
	return v.Created
}

// IsPattern says whether a selector is a wildcard pattern: one that may
// pick jobs the caller never looked at (a child job, say, it leaves out).
func IsPattern(sel string) bool { return strings.ContainsAny(sel, "*?[") }

// notFound is the error for a selector s that matches no job.
func notFound(s string) error {
	return errorf(ErrNotFound, "no job matches %q; 'bgjob get' lists the jobs", s)
}
