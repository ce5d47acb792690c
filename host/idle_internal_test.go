package host

import (
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// Stored definitions keep a host busy while one is enabled and has
// triggers, or is being fired; disabled ones, and ones without triggers,
// do not; nor does anything before the definitions were first read, which
// counts as busy.
func TestIdleTriggers(t *testing.T) {
	withTriggers, err := arm("ScheduledJob", &sdk.Definition{Name: "Hourly", Triggers: []string{"@hourly"}})
	if err != nil {
		t.Fatal(err)
	}
	noTriggers, err := arm("ScheduledJob", &sdk.Definition{Name: "ByHand"})
	if err != nil {
		t.Fatal(err)
	}
	done := newJob(&store.Row{Job: api.Job{ID: 1, State: api.Completed}})
	tests := []struct {
		name    string
		armed   []*armed
		enabled []bool
		firing  []bool
		ready   bool
		want    bool
	}{
		{"none", nil, nil, nil, true, true},
		{"not read yet", nil, nil, nil, false, false},
		{"enabled with triggers", []*armed{withTriggers}, []bool{true}, []bool{false}, true, false},
		{"disabled with triggers", []*armed{withTriggers}, []bool{false}, []bool{false}, true, true},
		{"enabled without triggers", []*armed{noTriggers}, []bool{true}, []bool{false}, true, true},
		{"disabled, being fired", []*armed{withTriggers}, []bool{false}, []bool{true}, true, false},
		{"one of two", []*armed{noTriggers, withTriggers}, []bool{true, true}, []bool{false, false}, true, false},
	}
	for _, tt := range tests {
		trig := &triggers{ready: make(chan struct{}), armed: map[string]*armed{}}
		if tt.ready {
			close(trig.ready)
		}
		for i, a := range tt.armed {
			c := *a
			c.enabled, c.firing = tt.enabled[i], tt.firing[i]
			trig.armed[c.key] = &c
		}
		h := &Host{jobs: map[uint64]*job{1: done}, trig: trig}
		if got := h.Idle(); got != tt.want {
			t.Errorf("%s: Idle() = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Without a definition directory there is nothing to fire.
	if h := (&Host{jobs: map[uint64]*job{}}); !h.Idle() {
		t.Error("a host without definitions or jobs is not idle")
	}
	// Any state but a finished one is work.
	for _, st := range api.AllStates {
		h := &Host{jobs: map[uint64]*job{1: newJob(&store.Row{Job: api.Job{ID: 1, State: st}})}}
		if got, want := h.Idle(), st.Finished(); got != want {
			t.Errorf("a host whose one job is %s: Idle() = %v, want %v", st, got, want)
		}
	}
}
