package sshloc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/store"
)

// A fan-out's children take its connections in the order of
// --computer-name, never more than --throttle-limit at once, each as soon
// as one is given back (no tick to wait for); a child stopped while it
// waits gives its turn to the next.
func TestAcquireInOrderAtOnce(t *testing.T) {
	tab := jobs.New(jobs.Config{MaxRunning: 1, Run: func(*jobs.Job) {}})
	defer tab.Close()
	l := &Location{t: tab, kids: map[uint64]*child{}, busy: map[uint64]int{}}
	const n, limit = 40, 3
	p := jobs.NewJob(&store.Row{Job: api.Job{ID: 1, State: api.Running}, SSH: &store.SSHJob{Throttle: limit}})
	for i := range n {
		k := jobs.NewJob(&store.Row{Job: api.Job{ID: uint64(2 + i), State: api.NotStarted}, SSH: &store.SSHJob{Computer: fmt.Sprint("c", i)}})
		p.Children = append(p.Children, k)
		l.kids[k.Row.ID] = &child{}
	}
	stopped := p.Children[10]
	stop := make(chan struct{}) // child 0 holds its connection until child 10 is stopped

	var mu sync.Mutex
	var order []int
	held, most := 0, 0
	var wg sync.WaitGroup
	ctx := context.Background()
	// Started last first: the order comes from acquire, not from the
	// goroutines'.
	for i := n - 1; i >= 0; i-- {
		k := p.Children[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !l.acquire(ctx, p, k, false) {
				if k != stopped {
					t.Errorf("child %d was refused a connection", i)
				}
				tab.Lock()
				delete(l.kids, k.Row.ID)
				l.passLocked(p) // as driveLocked does when a child's drive ends
				tab.Unlock()
				return
			}
			mu.Lock()
			order = append(order, i)
			held++
			most = max(most, held)
			mu.Unlock()
			if i == 0 {
				<-stop
			}
			time.Sleep(time.Millisecond) // the job there
			mu.Lock()
			held--
			mu.Unlock()
			l.release(p)
		}()
	}
	// Child 10 is stopped while it waits (Stop on a child not launched).
	for {
		tab.Lock()
		waiting := l.kids[stopped.Row.ID].wake != nil
		if waiting {
			tab.FinishLocked(stopped, api.Stopped, "stopped before it started", nil)
		}
		tab.Unlock()
		if waiting {
			close(stop)
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the children are stuck; those that ran: %v", order)
	}
	want := slices.DeleteFunc(seq(n), func(i int) bool { return i == 10 })
	if !slices.Equal(order, want) {
		t.Errorf("the children took connections in the order %v, want %v", order, want)
	}
	if most > limit {
		t.Errorf("%d children held a connection at once, the limit is %d", most, limit)
	}
	if len(l.busy) != 0 {
		t.Errorf("connections still counted as held after all were given back: %v", l.busy)
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// How long a fan-out's children take to pass through their connections
// when the job on each computer takes no time: what the handoff itself
// costs (go test -bench Acquire ./host/internal/sshloc/).
func BenchmarkAcquire(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("children=%d/limit=8", n), func(b *testing.B) {
			for b.Loop() {
				tab := jobs.New(jobs.Config{MaxRunning: 1, Run: func(*jobs.Job) {}})
				l := &Location{t: tab, kids: map[uint64]*child{}, busy: map[uint64]int{}}
				p := jobs.NewJob(&store.Row{Job: api.Job{ID: 1, State: api.Running}, SSH: &store.SSHJob{Throttle: 8}})
				for i := range n {
					k := jobs.NewJob(&store.Row{Job: api.Job{ID: uint64(2 + i), State: api.NotStarted}, SSH: &store.SSHJob{}})
					p.Children = append(p.Children, k)
					l.kids[k.Row.ID] = &child{}
				}
				var wg sync.WaitGroup
				for _, k := range p.Children {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if l.acquire(context.Background(), p, k, false) {
							l.release(p)
						}
					}()
				}
				wg.Wait()
				tab.Close()
			}
		})
	}
}
