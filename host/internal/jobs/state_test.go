package jobs

import (
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// Every legal move, as the host makes them today; every other pair of
// states is refused. A new move is added here and in moves together.
func TestStateMoves(t *testing.T) {
	t.Setenv("BGJOB_STRICT_STATES", "") // refused without a panic, as on a user's host
	N, R, C, F, S, B := api.NotStarted, api.Running, api.Completed, api.Failed, api.Stopped, api.Blocked
	Sd, Sg, St := api.Suspended, api.Suspending, api.Stopping
	legal := map[[2]api.State]string{
		{N, R}: "the queue runs it", {N, Sd}: "suspended in the queue", {N, St}: "a Slurm job stopped before it runs", {N, B}: "its row says queued, its runtime is found stopped at recovery",
		{N, C}: "a Slurm task ended between two polls", {N, F}: "a dependency failed, or its runtime could not start", {N, S}: "stopped in the queue",
		{R, St}: "stop", {R, Sg}: "suspend", {R, Sd}: "Slurm suspended it", {R, B}: "its runtime is stopped (SIGSTOP) at recovery",
		{R, N}: "Slurm requeued it", {R, C}: "it ended", {R, F}: "it failed", {R, S}: "stopped while starting",
		{St, R}: "reattached after a host restart", {St, B}: "its runtime is stopped at recovery", {St, C}: "it ended before the stop",
		{St, F}: "its runtime was lost", {St, S}: "stopped",
		{Sg, R}: "the suspend failed", {Sg, Sd}: "suspended", {Sg, St}: "stopped while suspending", {Sg, B}: "its runtime is stopped at recovery",
		{Sg, C}: "ended while suspending", {Sg, F}: "failed while suspending", {Sg, S}: "stopped while suspending",
		{Sd, N}: "resumed in the queue", {Sd, R}: "resumed", {Sd, St}: "a Slurm job stopped", {Sd, C}: "a Slurm task ended",
		{Sd, F}: "its runtime could not be reattached", {Sd, S}: "stopped in the queue",
		{B, R}: "its runtime runs again", {B, C}: "it ended", {B, F}: "its runtime could not be reattached", {B, S}: "stopped",
		{C, N}: "restart --in-place", {F, N}: "restart --in-place, or a retry (start --retries)", {S, N}: "restart --in-place",
	}
	for _, from := range api.AllStates {
		for _, to := range api.AllStates {
			_, want := legal[[2]api.State{from, to}]
			want = want || from == to
			if got := Legal(from, to); got != want {
				t.Errorf("Legal(%s, %s) = %v, want %v", from, to, got, want)
			}
			tab := New(Config{})
			j := NewJob(&store.Row{})
			j.Row.State = from
			ch := j.Changed
			ok := tab.MoveLocked(j, to)
			switch {
			case want && (!ok || j.Row.State != to):
				t.Errorf("MoveLocked %s -> %s: refused (%v), state %s", from, to, !ok, j.Row.State)
			case want && !closed(ch):
				t.Errorf("MoveLocked %s -> %s did not wake the job's waiters", from, to)
			case !want && (ok || j.Row.State != from):
				t.Errorf("MoveLocked %s -> %s was not refused: state %s", from, to, j.Row.State)
			}
		}
	}
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Under the tests a refused move panics, so that one missing from the
// table fails whichever test makes it.
func TestStrictStates(t *testing.T) {
	t.Setenv("BGJOB_STRICT_STATES", "1")
	j := NewJob(&store.Row{})
	j.Row.State = api.Completed
	defer func() {
		if recover() == nil {
			t.Error("a move from Completed to Running did not panic under BGJOB_STRICT_STATES")
		}
	}()
	New(Config{}).MoveLocked(j, api.Running)
}
