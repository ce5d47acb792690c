// Package remote is what package host hands a location where jobs run
// besides this machine's queue (the Slurm location, package slurmloc; the
// SSH location, package sshloc): a job that Start has admitted, to be created
// and run there. The host decides whom the job runs as and what it runs;
// the location decides nothing of that, only how to get it run.
package remote

import (
	"context"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/sdk"
)

// Submission is an admitted job for a location.
type Submission struct {
	// Owner is who starts the job, User the account it runs as (a job
	// elsewhere runs as whoever submits it: the owner's).
	Owner identity.Caller
	User  string
	// Payload is what the job's runtime receives, its environment and
	// umask set.
	Payload *sdk.Job
	// Entry is the runtime that runs the job, resolved and verified.
	Entry *catalog.Entry
	// Name is the job's name (empty: Job<Id>); Type its PSJobTypeName;
	// Command the command its row shows.
	Name, Type, Command string
	// Workdir is where the job runs.
	Workdir string
	// Constraint is the runtime version asked for, which the row keeps.
	Constraint string
	// InstanceID is the caller's id for the job, if it gave one (see
	// Host.Start); otherwise the job gets a new one.
	InstanceID string
	// Slurm is what the job asks of Slurm (--partition and the rest), if
	// anything; SSH the computers of a job over SSH.
	Slurm *api.SlurmRequest
	SSH   *api.SSHRequest
	// EnvAdd is what the job adds to its environment (--env): on another
	// computer the job's environment is a login's there, plus this.
	EnvAdd []string
}

// forRemovalKey keys the mark ForRemoval puts on a stop's context.
type forRemovalKey struct{}

// ForRemoval marks ctx as that of a stop made to remove the jobs it stops
// (remove --force). A location then gives up on a job it cannot stop
// because it cannot reach where the job runs, rather than fail: the
// caller wants the job gone from the list, as Remove-Job -Force drops a
// job whose remote session is gone, and a stop that waits for a computer
// to come back would keep failing until it does. What was given up on is
// said to the caller (admit.Tell), since it may still run there.
func ForRemoval(ctx context.Context) context.Context {
	return context.WithValue(ctx, forRemovalKey{}, true)
}

// IsForRemoval reports whether ctx is a stop's for a removal (ForRemoval).
func IsForRemoval(ctx context.Context) bool {
	v, _ := ctx.Value(forRemovalKey{}).(bool)
	return v
}
