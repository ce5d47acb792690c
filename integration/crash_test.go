//go:build unix

package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash suite: jobs print numbered lines at different rates, some with
// a receiver attached, and the host is killed (SIGKILL) at random moments,
// several times. Then:
//   - every job ran exactly once and completed;
//   - every line of every job was received, in order, with no gap; a line
//     comes twice only where a receiver was cut off by a kill in the middle
//     of writing out a batch (the host cannot write to a caller and record
//     that it did in one step), and then only that batch, once;
//   - no process the jobs or their runtimes started is left.
//
// BGJOB_CRASH_SEED replays a run; BGJOB_SOAK=DURATION repeats rounds for that
// long (make soak).

type crashJob struct {
	name     string
	lines    int
	script   string
	receiver bool
	flags    []string // for start: the legacy line, a thread job
	// items, for a batch (start --foreach), is how many children it has:
	// each prints its item, as line number, and runs attempts times
	// (0: once).
	items, attempts int
}

func crashJobs(r *rand.Rand, work string) []crashJob {
	var jobs []crashJob
	add := func(kind string, lines int, body string, receiver bool, flags ...string) {
		name := fmt.Sprintf("%s%d", kind, len(jobs)+1)
		// Each run of the job leaves a mark: it must run once.
		script := fmt.Sprintf("echo run >> %s/runs-%s; %s", work, name, body)
		jobs = append(jobs, crashJob{name: name, lines: lines, script: fmt.Sprintf(script, name), receiver: receiver, flags: flags})
	}
	for i := 0; i < 3; i++ {
		n := 20000 + r.Intn(30000)
		add("fast", n, fmt.Sprintf("seq -f '%%s-%%%%g' 1 %d", n), i == 0)
	}
	for i := 0; i < 4; i++ {
		n := 100 + r.Intn(200)
		add("slow", n, fmt.Sprintf("i=1; while [ $i -le %d ]; do echo %%s-$i; i=$((i+1)); sleep 0.01; done", n), i%2 == 0)
	}
	// The legacy line (protocol 1) and thread jobs (a shared process)
	// live through the same kills.
	slow := func() (int, string) {
		n := 100 + r.Intn(200)
		return n, fmt.Sprintf("i=1; while [ $i -le %d ]; do echo %%s-$i; i=$((i+1)); sleep 0.01; done", n)
	}
	n, body := slow()
	add("legacy", n, body, true, "--runtime-version", "~1")
	for i := 0; i < 2; i++ {
		n, body := slow()
		add("thread", n, body, i == 0, "--thread")
	}
	// batch adds a batch (start --foreach) of n children, items 1..n;
	// each child runs attempts times (0: once).
	batch := func(kind string, n, attempts int, body string, flags ...string) {
		items := filepath.Join(work, fmt.Sprintf("items-%d", len(jobs)+1))
		var b strings.Builder
		for k := 1; k <= n; k++ {
			fmt.Fprintln(&b, k)
		}
		if err := os.WriteFile(items, []byte(b.String()), 0o644); err != nil {
			panic(err)
		}
		add(kind, n, body, false, append([]string{"--foreach", items}, flags...)...)
		jobs[len(jobs)-1].items, jobs[len(jobs)-1].attempts = n, attempts
	}
	// Batches of children that each print a line: their records come
	// with their ends and are kept in their rows, not in files. Received
	// through the parent, child by child in the items' order, once all
	// have run.
	batch("batch", 100+r.Intn(200), 0, `echo "%s-$1"`) // thread children
	batch("batch", 100+r.Intn(200), 0, `echo "%s-$1"`, "--processes")
	// A batch whose every child fails its first attempt and runs again
	// (--retries): each attempt once, the second's line kept. Thread
	// children or processes, chosen at random each round.
	retry := []string{"--retries", "1"}
	if r.Intn(2) == 0 {
		retry = append(retry, "--processes")
	}
	batch("retry", 50+r.Intn(50), 2,
		fmt.Sprintf(`if [ -e %s/tried-"$1" ]; then echo "%%s-$1"; else touch %s/tried-"$1"; exit 1; fi`, work, work),
		retry...)
	for i := 0; i < 3; i++ {
		bursts, size := 5+r.Intn(5), 500+r.Intn(1500)
		add("burst", bursts*size, fmt.Sprintf("b=0; while [ $b -lt %d ]; do seq -f '%%s-%%%%g' $((b*%d+1)) $((b*%d+%d)); b=$((b+1)); sleep 0.1; done", bursts, size, size, size), i != 1)
	}
	return jobs
}

func TestCrashSuite(t *testing.T) {
	if runtime := os.Getenv("GOOS"); runtime != "" && runtime != "linux" {
		t.Skip("kills hosts and reads /proc")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("reads /proc")
	}
	soak, _ := time.ParseDuration(os.Getenv("BGJOB_SOAK"))
	seed := time.Now().UnixNano()
	if s := os.Getenv("BGJOB_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	end := time.Now().Add(soak)
	for round := 1; ; round++ {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			crashRound(t, seed+int64(round))
		})
		if t.Failed() || time.Now().After(end) {
			return
		}
	}
}

func crashRound(t *testing.T, seed int64) {
	t.Logf("seed %d (BGJOB_CRASH_SEED=%d replays it)", seed, seed-1)
	r := rand.New(rand.NewSource(seed))
	h := newHome(t)
	work := h.dir
	t.Cleanup(func() { keepFailedHome(t, h.path) })
	jobs := crashJobs(r, work)
	for _, j := range jobs {
		h.run(append(append([]string{"start", "--name", j.name}, j.flags...), "--", j.script)...)
	}

	var (
		mu          sync.Mutex
		attempts    = map[string][]attempt{}
		wg          sync.WaitGroup
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	)
	defer cancel()
	for _, j := range jobs {
		if !j.receiver {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// A file, as a redirection would be: the host writes
				// to it directly.
				f, err := os.CreateTemp(work, "out-"+j.name+"-")
				if err != nil {
					t.Error(err)
					return
				}
				c := h.cmd(ctx, "receive", "--wait", j.name)
				var stderr bytes.Buffer
				c.Stdout, c.Stderr = f, &stderr
				err = c.Run()
				f.Close()
				out, _ := os.ReadFile(f.Name())
				mu.Lock()
				attempts[j.name] = append(attempts[j.name], attempt{out: out, cut: err != nil})
				mu.Unlock()
				if err == nil {
					return
				}
				time.Sleep(time.Duration(20+r.Intn(50)) * time.Millisecond)
			}
		}()
	}

	// A caller in the foreground meanwhile: start --wait after start
	// --wait, each job's row synced beside its run. Each runs at most
	// once; one that returned printed its lines once and was removed.
	type fgCall struct {
		name, out string
		err       error
	}
	var fgCalls []fgCall
	// fgCall1 makes call n, with its stderr kept for the report.
	fgCall1 := func(n int) {
		name := fmt.Sprintf("fg%d", n)
		c := h.cmd(ctx, "start", "--wait", "--name", name, "--",
			fmt.Sprintf("echo run >> %s/runs-%s; echo %s-1; echo %s-2; echo %s-3", work, name, name, name, name))
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		fgCalls = append(fgCalls, fgCall{name, stdout.String(), err})
	}
	stopFg, fgDone := make(chan struct{}), make(chan struct{})
	fgPause := make([]time.Duration, 200) // drawn here: r is not for two goroutines
	for i := range fgPause {
		fgPause[i] = time.Duration(5+r.Intn(40)) * time.Millisecond
	}
	go func() {
		defer close(fgDone)
		for i := 0; ; i++ {
			select {
			case <-stopFg:
				return
			case <-time.After(fgPause[i%len(fgPause)]):
			}
			fgCall1(i + 1)
		}
	}()

	// The killer.
	kills := 3 + r.Intn(3)
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(150+r.Intn(700)) * time.Millisecond)
		pid, ok := hostPid(h.path)
		if !ok {
			continue
		}
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
		// The next call starts a new host; make one now and then, so
		// that kills also land while no receiver is connected.
		if r.Intn(2) == 0 {
			h.run("get")
		}
	}
	t.Logf("killed the host %d times", kills)
	close(stopFg)
	<-fgDone
	// One call more, with no kill to come: a call made during the kills
	// may be cut off twice (it is sent once more, not again and again),
	// and in a round of few calls all may be; this one must return.
	fgCall1(len(fgCalls) + 1)
	h.run("wait", "*")
	wg.Wait()
	cancel()

	returned := 0
	for _, c := range fgCalls {
		runs, _ := os.ReadFile(filepath.Join(work, "runs-"+c.name))
		if n := strings.Count(string(runs), "run"); n > 1 || c.err == nil && n != 1 {
			t.Errorf("start --wait %s ran %d times (the call: %v)", c.name, n, c.err)
		}
		want := fmt.Sprintf("%s-1\n%s-2\n%s-3\n", c.name, c.name, c.name)
		if c.err == nil {
			returned++
			// Its stdout is a pipe: the CLI kept the host's marks of
			// what it printed and told the next host, so even a kill
			// between the host's write and its record of it gets no
			// line written again (the output is far smaller than one
			// write the kill could cut short).
			if c.out != want {
				t.Errorf("start --wait %s printed %q, want %q, each line once across the kills", c.name, c.out, want)
			}
		} else if !strings.HasPrefix(want, c.out) {
			t.Errorf("start --wait %s, cut off (%v), printed %q, not a start of %q", c.name, c.err, c.out, want)
		}
	}
	if last := fgCalls[len(fgCalls)-1]; last.err != nil {
		t.Errorf("start --wait %s, made after the kills, failed: %v", last.name, last.err)
	}
	t.Logf("%d start --wait calls, %d returned across the kills", len(fgCalls), returned)
	gone := map[string]bool{}
	for _, c := range fgCalls {
		gone[c.name] = c.err == nil
	}

	for _, j := range jobs {
		// What the receivers did not take.
		rest := []byte(h.run("receive", j.name))
		outs := attempts[j.name]
		outs = append(outs, attempt{out: rest})
		checkCrashLines(t, j, outs, maxRepeat)
		want := max(1, j.items) * max(1, j.attempts)
		if runs, _ := os.ReadFile(filepath.Join(work, "runs-"+j.name)); strings.Count(string(runs), "run") != want {
			t.Errorf("%s ran %d times, want %d", j.name, strings.Count(string(runs), "run"), want)
		}
	}
	for _, v := range h.jobs() {
		if _, fg := gone[v.Name]; fg {
			// A foreground job whose caller a kill cut off stays, as
			// any job whose caller went away while its host was down.
			if gone[v.Name] {
				t.Errorf("start --wait %s returned, and its job is still there (%s)", v.Name, v.State)
			}
			continue
		}
		if v.State != "Completed" {
			t.Errorf("job %s is %s: %s", v.Name, v.State, v.StateReason)
		}
	}
	// Nothing of the jobs or their runtimes is left once the host is
	// gone.
	h.run("remove", "*")
	stopHost(h.path)
	time.Sleep(100 * time.Millisecond)
	if left := related(h.path); len(left) > 0 {
		var desc []string
		for _, pid := range left {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			desc = append(desc, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(string(b), "\x00", " ")))
		}
		t.Errorf("processes left behind: %s", strings.Join(desc, "; "))
	}
}

// attempt is one receive's output, and whether a kill cut it off.
type attempt struct {
	out []byte
	cut bool
}

// checkCrashLines checks that the outputs, in order, hold lines 1..n of the
// job once each. A receiver cut off by a kill may have written out a batch
// the host had not yet recorded as delivered: that batch (a run of the
// lines just before, at most maxRepeat of them) may come again at the start
// of the next output, and nothing else may repeat or be missing.
func checkCrashLines(t *testing.T, j crashJob, outs []attempt, maxRepeat int) (repeated int) {
	t.Helper()
	next := 1
	for i, a := range outs {
		text := string(a.out)
		if a.cut && text != "" && !strings.HasSuffix(text, "\n") {
			// A line cut by the kill in the middle of its write; the
			// next output has it whole.
			text = text[:strings.LastIndexByte(text, '\n')+1]
		}
		var nums []int
		for k, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if text == "" {
				break
			}
			num, ok := strings.CutPrefix(l, j.name+"-")
			n, err := strconv.Atoi(num)
			if !ok || err != nil {
				t.Errorf("%s: output %d line %d is %q", j.name, i, k+1, l)
				return
			}
			nums = append(nums, n)
		}
		if len(nums) > 0 && nums[0] < next && i > 0 && outs[i-1].cut {
			again := next - nums[0]
			if again > maxRepeat || again > len(nums) {
				t.Errorf("%s: output %d starts with line %d, %d lines back", j.name, i, nums[0], again)
				return
			}
			for k := 0; k < again; k++ {
				if nums[k] != nums[0]+k {
					t.Errorf("%s: output %d repeats lines out of order: line %d is %d", j.name, i, k+1, nums[k])
					return
				}
			}
			t.Logf("%s: %d lines came again after a receiver was cut off by a kill", j.name, again)
			repeated += again
			nums = nums[again:]
		}
		for k, n := range nums {
			if n != next {
				t.Errorf("%s: output %d has line %d where line %d belongs (%d lines in; earlier output cut: %v)", j.name, i, n, next, k, i > 0 && outs[i-1].cut)
				return
			}
			next++
		}
	}
	if next-1 != j.lines {
		t.Errorf("%s: received lines 1..%d, want 1..%d", j.name, next-1, j.lines)
	}
	return repeated
}

// maxRepeat bounds what may come again after a cut: one batch of output.
// Receivers here are attached while their jobs print, so the batch may be
// one handed straight over from the runtime (up to a MiB of these short
// lines).
const maxRepeat = 1 << 17

// A slow reader (a pipe drained a little at a time) across several host
// kills while its job prints: every line arrives, and a reconnect resends
// at most the batch that was being written when the host was killed: at
// most receiveBatch (64 KiB) of log and one record (a chunk, at most 64
// KiB) after it, so 128 KiB of these 13-byte lines. (The host used to
// record how far the caller got only every MiB, and a reconnect resent from
// there.)
func TestCrashSlowReader(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("reads /proc")
	}
	h := newHome(t)
	const lines, width = 300000, 13 // "slow-0000001\n"
	h.run("start", "--name", "slow", "--", fmt.Sprintf(
		`i=0; while [ $i -lt 30 ]; do seq -f 'slow-%%07g' $((i*10000+1)) $((i*10000+10000)); i=$((i+1)); sleep 0.1; done`))
	// The reader comes once the job has printed some, so that it reads
	// from the log, behind the job, as a slow reader does.
	waitOutput(t, h, "slow", "slow-0010000")
	time.Sleep(300 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var outs []attempt
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Error(err)
				return
			}
			c := h.cmd(ctx, "receive", "--wait", "slow")
			var stderr bytes.Buffer
			c.Stdout, c.Stderr = pw, &stderr
			if err := c.Start(); err != nil {
				t.Error(err)
				return
			}
			pw.Close()
			// The slow consumer: 4 KiB every 4 ms, about 1 MB/s.
			var out bytes.Buffer
			buf := make([]byte, 4096)
			for {
				n, err := pr.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					break
				}
				time.Sleep(4 * time.Millisecond)
			}
			pr.Close()
			err = c.Wait()
			outs = append(outs, attempt{out: out.Bytes(), cut: err != nil})
			if err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	kills := 0
	for k := 0; k < 6; k++ {
		time.Sleep(time.Duration(350+100*k) * time.Millisecond)
		select {
		case <-done:
		default:
			if pid, ok := hostPid(h.path); ok {
				syscall.Kill(pid, syscall.SIGKILL)
				waitGone(pid, 5*time.Second)
				kills++
			}
		}
	}
	<-done
	cuts := 0
	for _, a := range outs {
		if a.cut {
			cuts++
		}
	}
	rest := []byte(h.run("receive", "slow"))
	outs = append(outs, attempt{out: rest})
	repeated := checkCrashLines(t, crashJob{name: "slow", lines: lines}, outs, 128<<10/width)
	t.Logf("%d kills, %d receives cut off, %d of %d lines repeated", kills, cuts, repeated, lines)
	if cuts == 0 {
		t.Errorf("no receive was cut off by the %d kills; the test tested nothing", kills)
	}
}

// keepFailedHome copies the home of a round that failed (its hosts' log,
// host.log, and each job's runtime log) to a directory the clean-up leaves,
// for finding out why: a round's kills are not replayed exactly by its
// seed.
func keepFailedHome(t *testing.T, home string) {
	if !t.Failed() {
		return
	}
	keep, err := os.MkdirTemp("", "bgjob-crash-")
	if err != nil {
		t.Logf("cannot keep the failed round's home: %v", err)
		return
	}
	// Sockets and the like are not copied; what is, is enough.
	out, _ := exec.Command("cp", "-a", home, keep).CombinedOutput()
	t.Logf("the failed round's home is kept in %s (host.log, jobs/*.runtime.log) %s", keep, out)
}
