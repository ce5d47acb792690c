package protocol

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// ackRecorder is a runtime that writes down every acknowledgement it gets,
// by Ack and on Run, and says in Describe whether it takes them on Run.
type ackRecorder struct {
	pb.UnimplementedRuntimeServer
	onRun bool
	// reuse is what the ends it sends say of the process (Done.reuse).
	reuse pb.Reuse

	mu     sync.Mutex
	byAck  []*pb.AckRequest
	byRun  []*pb.AckRequest
	ackGot chan struct{}
}

func (r *ackRecorder) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Name: "rec", Protocol: 2, AcksOnRun: r.onRun}, nil
}

func (r *ackRecorder) Ack(_ context.Context, a *pb.AckRequest) (*pb.AckResponse, error) {
	r.mu.Lock()
	r.byAck = append(r.byAck, a)
	r.mu.Unlock()
	r.ackGot <- struct{}{}
	return &pb.AckResponse{}, nil
}

func (r *ackRecorder) Run(req *pb.RunRequest, st pb.Runtime_RunServer) error {
	r.mu.Lock()
	r.byRun = append(r.byRun, req.GetAcks()...)
	r.mu.Unlock()
	return st.Send(&pb.Batch{Done: &pb.Done{State: pb.State_STATE_COMPLETED, Reuse: r.reuse}})
}

// awaitAck waits for an Ack call to reach r; what names the
// acknowledgement that is missing if none comes.
func (r *ackRecorder) awaitAck(t *testing.T, what string) {
	t.Helper()
	select {
	case <-r.ackGot:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was never sent by Ack", what)
	}
}

func (r *ackRecorder) got() (byAck, byRun []*pb.AckRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*pb.AckRequest(nil), r.byAck...), append([]*pb.AckRequest(nil), r.byRun...)
}

// recorderConn serves rec in this process and returns a Conn to it that
// has asked Describe, as the launcher does of every process it starts.
func recorderConn(t *testing.T, rec *ackRecorder) *grpcConn {
	t.Helper()
	rec.ackGot = make(chan struct{}, 16)
	srv := grpc.NewServer()
	pb.RegisterRuntimeServer(srv, rec)
	l := bufconn.Listen(1 << 16)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///acks",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c := &grpcConn{c: pb.NewRuntimeClient(cc)}
	if _, err := c.Describe(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

func setLateAckDelay(t *testing.T, d time.Duration) {
	old := lateAckDelay
	lateAckDelay = d
	t.Cleanup(func() { lateAckDelay = old })
}

func runOne(t *testing.T, c *grpcConn, id uint64) {
	t.Helper()
	st, err := c.Run(context.Background(), &sdk.Job{Id: id, Script: "true"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := st.Recv(); err != nil || b.Done == nil {
		t.Fatalf("Run: %v, %v; want the end", b, err)
	}
}

func sameAcks(got []*pb.AckRequest, want ...*pb.AckRequest) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].JobId != want[i].JobId || got[i].Seq != want[i].Seq || got[i].Done != want[i].Done ||
			got[i].Attempt != want[i].Attempt || got[i].InstanceId != want[i].InstanceId {
			return false
		}
	}
	return true
}

// An end acknowledged with AckEnd rides on the next Run the process is
// given, if its runtime takes acknowledgements there: no Ack call.
func TestAckEndRidesOnTheNextRun(t *testing.T) {
	setLateAckDelay(t, time.Hour)
	rec := &ackRecorder{onRun: true}
	c := recorderConn(t, rec)
	c.AckEnd(RunID{Job: 1, Instance: "one", Attempt: 2}, 5)
	c.AckEnd(RunID{Job: 2}, 3)
	runOne(t, c, 3)
	byAck, byRun := rec.got()
	if len(byAck) != 0 || !sameAcks(byRun, &pb.AckRequest{JobId: 1, Seq: 5, Done: true, InstanceId: "one", Attempt: 2}, &pb.AckRequest{JobId: 2, Seq: 3, Done: true}) {
		t.Errorf("by Ack %v, on Run %v; want both ends on the Run, none by Ack", byAck, byRun)
	}
	runOne(t, c, 4) // carries nothing more
	if _, byRun := rec.got(); len(byRun) != 2 {
		t.Errorf("the next Run carried the acknowledgements again: %v", byRun)
	}
}

// With no Run to ride on, the acknowledgement goes by Ack after a while:
// a runtime is never left holding an acknowledged end for long.
func TestAckEndSentWhenNoRunComes(t *testing.T) {
	setLateAckDelay(t, time.Millisecond)
	rec := &ackRecorder{onRun: true}
	c := recorderConn(t, rec)
	c.AckEnd(RunID{Job: 7}, 9)
	rec.awaitAck(t, "the acknowledgement")
	if byAck, byRun := rec.got(); !sameAcks(byAck, &pb.AckRequest{JobId: 7, Seq: 9, Done: true}) || len(byRun) != 0 {
		t.Errorf("by Ack %v, on Run %v; want the end by Ack", byAck, byRun)
	}
}

// An end acknowledged with AckEnd goes by Ack, before the call that
// returns, to a runtime that does not say it takes acknowledgements on Run
// (built before they could ride there), and at FlushAcks to one that does
// (a host that lets go of a process that runs on leaves it nothing held).
// Either way no Run carries it after.
func TestAckEndByAck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		onRun bool
	}{
		{"a runtime from before acks on Run", false},
		{"flushed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setLateAckDelay(t, time.Hour)
			rec := &ackRecorder{onRun: tc.onRun}
			c := recorderConn(t, rec)
			c.AckEnd(RunID{Job: 1, Instance: "i", Attempt: 1}, 5)
			if tc.onRun {
				c.FlushAcks()
			}
			if byAck, _ := rec.got(); !sameAcks(byAck, &pb.AckRequest{JobId: 1, Seq: 5, Done: true, InstanceId: "i", Attempt: 1}) {
				t.Errorf("by Ack %v; want the end acknowledged by the time the call returned", byAck)
			}
			runOne(t, c, 2)
			if _, byRun := rec.got(); len(byRun) != 0 {
				t.Errorf("the next Run carried %v", byRun)
			}
		})
	}
}

// The runtime's answer about reuse that a job's end carries is known as
// soon as the end is read, before any acknowledgement (which may then ride
// on the next Run); an Ack that answers nothing (a runtime built before
// the answer) leaves it, and the next Run forgets it.
func TestEndCarriesReuse(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reuse      pb.Reuse
		yes, known bool
	}{
		{"yes", pb.Reuse_REUSE_YES, true, true},
		{"no", pb.Reuse_REUSE_NO, false, true},
		{"a runtime built before the answer", pb.Reuse_REUSE_UNSPECIFIED, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &ackRecorder{onRun: true, reuse: tc.reuse}
			c := recorderConn(t, rec)
			runOne(t, c, 1)
			if yes, known := c.TakesAnother(); yes != tc.yes || known != tc.known {
				t.Errorf("after the end: takes another %v, known %v; want %v, %v", yes, known, tc.yes, tc.known)
			}
			if err := c.Ack(context.Background(), RunID{Job: 1}, 1, true); err != nil {
				t.Fatal(err)
			}
			if yes, known := c.TakesAnother(); yes != tc.yes || known != tc.known {
				t.Errorf("after an Ack that answers nothing: takes another %v, known %v; want %v, %v", yes, known, tc.yes, tc.known)
			}
			// The next job's Run forgets the answer until that job's own
			// end is read.
			if _, err := c.Run(context.Background(), &sdk.Job{Id: 2}, 0); err != nil {
				t.Fatal(err)
			}
			if _, known := c.TakesAnother(); known {
				t.Error("an answer is known for a job whose end has not been read")
			}
		})
	}
}

// A Run cut off by its context (the host closing) sends the
// acknowledgements it was to carry by Ack at once, rather than leaving them
// for a timer the closing host may not live to see.
func TestAcksOfACancelledRunSentAtOnce(t *testing.T) {
	setLateAckDelay(t, time.Hour)
	rec := &ackRecorder{onRun: true}
	c := recorderConn(t, rec)
	c.AckEnd(RunID{Job: 1}, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Run(ctx, &sdk.Job{Id: 2}, 0); err == nil {
		t.Fatal("a Run with its context cancelled succeeded")
	}
	rec.awaitAck(t, "the acknowledgement the cancelled Run was to carry")
	if byAck, byRun := rec.got(); !sameAcks(byAck, &pb.AckRequest{JobId: 1, Seq: 4, Done: true}) || len(byRun) != 0 {
		t.Errorf("by Ack %v, on Run %v; want the end by Ack", byAck, byRun)
	}
}
