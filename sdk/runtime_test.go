package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

func TestStopGrace(t *testing.T) {
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for _, tc := range []struct {
		name      string
		ctx       func() context.Context
		wantGrace time.Duration
		wantOK    bool
	}{
		{"not cancelled", func() context.Context { return context.Background() }, 0, false},
		{"stopped", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(&sdk.StopRequest{Grace: 3 * time.Second})
			return ctx
		}, 3 * time.Second, true},
		{"stopped without grace", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(&sdk.StopRequest{})
			return ctx
		}, 0, true},
		{"plain cancel", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, 0, false},
		{"cancelled with another cause", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errors.New("host gone"))
			return ctx
		}, 0, false},
		{"wrapped stop request", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(fmt.Errorf("stopping: %w", &sdk.StopRequest{Grace: time.Second}))
			return ctx
		}, time.Second, true},
		{"child of a stopped context", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			child, stop := context.WithTimeout(ctx, time.Hour)
			cancels = append(cancels, stop)
			cancel(&sdk.StopRequest{Grace: 5 * time.Second})
			return child
		}, 5 * time.Second, true},
		{"deadline", func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
			cancels = append(cancels, cancel)
			return ctx
		}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grace, ok := sdk.StopGrace(tc.ctx())
			if grace != tc.wantGrace || ok != tc.wantOK {
				t.Errorf("StopGrace = %v, %v; want %v, %v", grace, ok, tc.wantGrace, tc.wantOK)
			}
		})
	}
	if (&sdk.StopRequest{}).Error() == "" {
		t.Error("StopRequest.Error is empty")
	}
}

func TestResults(t *testing.T) {
	if r := sdk.Success(); r != (sdk.Result{State: sdk.Completed}) {
		t.Errorf("Success() = %+v", r)
	}
	if r := sdk.Failure(3, "boom"); r != (sdk.Result{State: sdk.Failed, ExitCode: 3, Reason: "boom"}) {
		t.Errorf("Failure(3, boom) = %+v", r)
	}
}

func TestRecordConstructors(t *testing.T) {
	ed := &sdk.ErrorDetail{Category: "c"}
	pd := &sdk.ProgressDetail{Percent: 5}
	id := &sdk.InformationDetail{Source: "s"}
	for _, tc := range []struct {
		got  *sdk.Record
		want *sdk.Record
	}{
		{sdk.NewOutput("v", "T"), &sdk.Record{Stream: sdk.Output, Message: "v", TypeName: "T"}},
		{sdk.NewMessage(sdk.Warning, "w"), &sdk.Record{Stream: sdk.Warning, Message: "w"}},
		{sdk.NewError("e", ed), &sdk.Record{Stream: sdk.Error, Message: "e", Error: ed}},
		{sdk.NewProgress(pd), &sdk.Record{Stream: sdk.Progress, Progress: pd}},
		{sdk.NewInformation("i", id), &sdk.Record{Stream: sdk.Information, Message: "i", Information: id}},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("got %v, want %v", tc.got, tc.want)
		}
	}
	if len(sdk.StreamNames) != 7 {
		t.Errorf("%d stream names, want 7", len(sdk.StreamNames))
	}
}
