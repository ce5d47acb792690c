package sshloc

import (
	"context"
	"fmt"
	"math/rand/v2"
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
			// Every child before it holds one already (or was
			// stopped): read under the table's lock, where acquire
			// marks a child connected, since the order this goroutine
			// gets here in may differ from the order acquire gave
			// connections in.
			tab.Lock()
			for _, e := range p.Children[:i] {
				if c := l.kids[e.Row.ID]; e != stopped && (c == nil || !c.connected) {
					t.Errorf("child %d took a connection before child %d", i, e.Row.ID-2)
				}
			}
			tab.Unlock()
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
	slices.Sort(order)
	if want := slices.DeleteFunc(seq(n), func(i int) bool { return i == 10 }); !slices.Equal(order, want) {
		t.Errorf("the children that took connections: %v, want %v", order, want)
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

// Random fan-outs: children arriving in any order, some launched by an
// earlier host (they take a connection whatever the limit), some whose
// computer is refused before they wait, some stopped at any moment. None
// is left asleep with a connection free, none goes out of the order of
// --computer-name (at a limit of 1, where the order shows), and every
// connection taken is given back.
func TestAcquireRandomFanOuts(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		randomFanOut(t, seed)
	}
}

func randomFanOut(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 5))
	tab := jobs.New(jobs.Config{MaxRunning: 1, Run: func(*jobs.Job) {}})
	defer tab.Close()
	l := &Location{t: tab, kids: map[uint64]*child{}, busy: map[uint64]int{}}
	n, limit := 2+rng.IntN(25), 1+rng.IntN(4)
	p := jobs.NewJob(&store.Row{Job: api.Job{ID: 1, State: api.Running}, SSH: &store.SSHJob{Throttle: limit}})
	kind := make([]int, n) // 0 plain, 1 launched, 2 parse error, 3 stopped at some point
	for i := range n {
		k := jobs.NewJob(&store.Row{Job: api.Job{ID: uint64(2 + i), State: api.NotStarted}, SSH: &store.SSHJob{Computer: fmt.Sprint("c", i)}})
		p.Children = append(p.Children, k)
		l.kids[k.Row.ID] = &child{}
		kind[i] = rng.IntN(4)
		if kind[i] == 1 && rng.IntN(2) == 0 {
			kind[i] = 0
		}
	}
	var mu sync.Mutex
	var order []int
	held := 0
	var wg sync.WaitGroup
	ctx := context.Background()
	perm := rng.Perm(n)
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = time.Duration(rng.IntN(300)) * time.Microsecond
	}
	for _, i := range perm {
		k := p.Children[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				tab.Lock()
				delete(l.kids, k.Row.ID)
				l.passLocked(p)
				tab.Unlock()
			}()
			time.Sleep(delays[i])
			if kind[i] == 2 {
				tab.Lock()
				tab.FinishLocked(k, api.Failed, "bad computer", nil)
				tab.Unlock()
				time.Sleep(delays[i])
				return
			}
			if !l.acquire(ctx, p, k, kind[i] == 1) {
				return
			}
			mu.Lock()
			if kind[i] != 1 {
				order = append(order, i)
				held++
			}
			mu.Unlock()
			time.Sleep(delays[i])
			mu.Lock()
			if kind[i] != 1 {
				held--
			}
			mu.Unlock()
			l.release(p)
		}()
	}
	// Stops: children of kind 3 are stopped at random moments.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if kind[i] != 3 {
				continue
			}
			time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
			tab.Lock()
			if k := p.Children[i]; !k.Row.State.Finished() {
				tab.FinishLocked(k, api.Stopped, "stopped", nil)
			}
			tab.Unlock()
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		tab.Lock()
		var st []string
		for i, k := range p.Children {
			c := l.kids[k.Row.ID]
			st = append(st, fmt.Sprintf("%d:k%d:%s:%v", i, kind[i], k.Row.State, c != nil && c.wake != nil))
		}
		busy := fmt.Sprint(l.busy)
		tab.Unlock()
		t.Fatalf("seed %d: stuck (n %d limit %d busy %v); ran %v; %v", seed, n, limit, busy, order, st)
	}
	for a := 1; limit == 1 && a < len(order); a++ {
		if order[a] < order[a-1] {
			t.Errorf("seed %d: out of order %v kinds %v limit %d", seed, order, kind, limit)
			break
		}
	}
	if len(l.busy) != 0 {
		t.Errorf("seed %d: busy %v", seed, l.busy)
	}
}
