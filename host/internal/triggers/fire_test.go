package triggers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// A reload while a trigger's start is being made arms the definition
// afresh: the fire's end (no longer firing, why it failed) reaches the
// definition armed now, or it never fired again and its LastError was
// lost.
func TestReloadDuringFire(t *testing.T) {
	trig, started, wg := testTriggers(t, func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "J", Triggers: []string{"@hourly"}}}
	}, &memState{m: map[string]store.Trigger{}})
	in, release := make(chan struct{}), make(chan struct{})
	fail := true
	trig.cfg.Start = func(context.Context, *api.StartRequest) error {
		close(in)
		<-release
		started.Add(1)
		if fail {
			return errors.New("boom")
		}
		return nil
	}
	trig.reload(false)
	trig.fire(trig.armed["ScheduledJob/J"], time.Now())
	<-in
	trig.reload(false) // the directory changed meanwhile
	close(release)
	wg.Wait()
	trig.mu.Lock()
	a := trig.armed["ScheduledJob/J"]
	firing, failed := a.firing, a.failed
	trig.mu.Unlock()
	if firing {
		t.Errorf("after the fire ended, the reloaded definition is still firing: it never fires again")
	}
	if failed == "" {
		t.Errorf("the failure landed on the replaced armed: LastError lost")
	}
}

// 'definition list' reads what the loop writes (next, enabled, why a
// start failed) under the lock the loop writes them under: run with -race.
func TestDefinitionsWhileFiring(t *testing.T) {
	trig, _, wg := testTriggers(t, func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "J", Triggers: []string{"* * * * * *"}}}
	}, &memState{m: map[string]store.Trigger{}})
	trig.reload(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			trig.fireDue(time.Now().Add(time.Duration(i) * time.Second))
		}
	}()
	for i := 0; i < 200; i++ {
		if _, err := trig.Definitions(context.Background(), &api.DefinitionRequest{Action: api.DefinitionList}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	wg.Wait()
}
