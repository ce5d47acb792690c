//go:build unix

package host_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

func withInstance(id string) func(*api.StartRequest) {
	return func(r *api.StartRequest) { r.InstanceID = id }
}

// A start sent twice with one instance id (the CLI's retry after a host
// vanished before answering) makes one job, also across a host restart;
// another caller naming that id is refused and learns nothing of the job.
func TestStartSameInstanceIDOnce(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	id := api.NewInstanceID()
	first := th.Start("echo once", named("Once"), withInstance(id))
	if first.InstanceID != id {
		t.Fatalf("the job's instance id is %s, want the one asked for, %s", first.InstanceID, id)
	}
	again := th.Start("echo once", named("Once"), withInstance(id))
	if again.ID != first.ID {
		t.Fatalf("the same start sent again made job %d besides job %d", again.ID, first.ID)
	}
	th.Await("*")
	th.Close()

	// The next host knows the id from the table.
	th = hosttest.Open(t, home, opts)
	again = th.Start("echo once", named("Once"), withInstance(id))
	if again.ID != first.ID {
		t.Fatalf("after a host restart, the same start made job %d besides job %d", again.ID, first.ID)
	}
	if js, err := th.Jobs(context.Background(), nil, nil); err != nil || len(js) != 1 {
		t.Fatalf("the table holds %d jobs (%v), want 1", len(js), err)
	}
	if n := l.Runs(first.ID); n != 1 {
		t.Fatalf("the job ran %d times, want once", n)
	}

	// Someone else reusing the id gets no job, neither theirs nor ours.
	other := host.WithCaller(context.Background(), host.Caller{UID: 4242, GID: 4242, Name: "other"})
	j, err := th.Host.Start(other, &api.StartRequest{Script: "echo theirs", Workdir: t.TempDir(), Env: hosttest.JobEnv, InstanceID: id})
	if err == nil {
		t.Fatalf("another caller's start with a taken instance id returned job %d", j.ID)
	}
	wantKind(t, "Start as another caller", err, host.ErrBadRequest)
	if j != nil || strings.Contains(err.Error(), "Once") || strings.Contains(err.Error(), "echo once") {
		t.Fatalf("the refusal tells of the job: %v, %v", j, err)
	}
	// Nor another case of it.
	if _, err := th.Host.Start(other, &api.StartRequest{Script: "echo theirs", Workdir: t.TempDir(), Env: hosttest.JobEnv, InstanceID: strings.ToUpper(id)}); err == nil {
		t.Fatal("an instance id in upper case was accepted")
	}
	if js, err := th.Jobs(context.Background(), nil, nil); err != nil || len(js) != 1 {
		t.Fatalf("the table holds %d jobs (%v), want 1", len(js), err)
	}

	// An id that is no UUID is refused, before anything else.
	for _, bad := range []string{"1", "Once", "not-a-uuid", id + "0"} {
		if _, err := th.Host.Start(context.Background(), &api.StartRequest{Script: "echo", Workdir: t.TempDir(), InstanceID: bad}); err == nil {
			t.Errorf("the instance id %q was accepted", bad)
		}
	}
}

// A restart sent twice with one request id restarts each job once: in
// place, the job is not run again; otherwise no second new job is made.
func TestRestartSameRequestOnce(t *testing.T) {
	th, l := fakeWithLauncher(t)
	a := th.Start("echo a", named("A"))
	b := th.Start("echo b", named("B"))
	th.Await("*")
	ctx := context.Background()
	req := &api.RestartRequest{InPlace: true, RequestID: api.NewInstanceID()}
	for try := range 2 {
		js, err := th.Restart(ctx, []string{"A"}, req)
		if err != nil || len(js) != 1 || js[0].ID != a.ID {
			t.Fatalf("restart --in-place A, try %d: %v, %v", try, ids(js), err)
		}
		th.Await("A")
	}
	if n := l.Runs(a.ID); n != 2 {
		t.Fatalf("job A ran %d times, want 2 (once, and once restarted)", n)
	}

	req = &api.RestartRequest{RequestID: api.NewInstanceID()}
	var made uint64
	for try := range 2 {
		js, err := th.Restart(ctx, []string{"B"}, req)
		if err != nil || len(js) != 1 || js[0].ID == b.ID || made != 0 && js[0].ID != made {
			t.Fatalf("restart B, try %d: %v, %v (first made %d)", try, ids(js), err, made)
		}
		made = js[0].ID
		th.Await(strconv.FormatUint(made, 10))
	}
	if js, err := th.Jobs(ctx, []string{"B"}, nil); err != nil || len(js) != 2 {
		t.Fatalf("jobs named B: %v (%v), want the first and one restart", ids(js), err)
	}
	// A new request restarts again.
	if _, err := th.Restart(ctx, []string{"A"}, &api.RestartRequest{InPlace: true, RequestID: api.NewInstanceID()}); err != nil {
		t.Fatal(err)
	}
	th.Await("A")
	if n := l.Runs(a.ID); n != 3 {
		t.Fatalf("job A ran %d times, want 3", n)
	}
}

// A job received whole and removed (what start --wait does) just before its
// host is killed: the start sent again by its caller gets that job's last
// row, from the tomb the removal left in the journal, and nothing runs a
// second time; someone else naming the id is refused.
func TestStartSameInstanceIDAfterRemoval(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	id := api.NewInstanceID()
	// As start --wait makes it: its caller's foreground.
	first, err := th.Host.Start(host.WithForeground(context.Background()),
		&api.StartRequest{Script: "echo once", Name: "Once", Workdir: t.TempDir(), Env: hosttest.JobEnv, InstanceID: id})
	if err != nil {
		t.Fatal(err)
	}
	th.Await("*")
	th.Take([]string{"Once"}, host.ReceiveOptions{Wait: true, AutoRemove: true})
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Fatalf("after receive --auto-remove the table holds %d jobs", len(js))
	}
	th.Close()

	th = hosttest.Open(t, home, opts)
	again := th.Start("echo once", named("Once"), withInstance(id))
	if again.ID != first.ID || again.State != api.Completed {
		t.Fatalf("after the removal and a host restart the same start returned job %d (%s), want job %d as it ended", again.ID, again.State, first.ID)
	}
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Fatalf("the start sent again made a job: the table holds %d", len(js))
	}
	if n := l.Runs(first.ID); n != 1 {
		t.Fatalf("the job ran %d times, want once", n)
	}
	other := host.WithCaller(context.Background(), host.Caller{UID: 4242, GID: 4242, Name: "other"})
	if j, err := th.Host.Start(other, &api.StartRequest{Script: "echo theirs", Workdir: t.TempDir(), Env: hosttest.JobEnv, InstanceID: id}); err == nil {
		t.Fatalf("another caller's start with a removed job's instance id returned job %d", j.ID)
	}
}
