package host

import "github.com/bgjob/bgjob/host/internal/jobs"

// SelectOption narrows the jobs a call selects.
type SelectOption = jobs.SelectOption

// InGroup keeps the selected jobs in queue group g; "" keeps all.
func InGroup(g string) SelectOption { return jobs.InGroup(g) }

// UntilFinished makes Wait wait for suspended jobs to finish too (wait
// --force); without it, as Wait-Job does, a suspended job ends the wait.
func UntilFinished() SelectOption { return jobs.UntilFinished() }

// InState keeps the selected jobs in state (any case), as PowerShell's
// -State does; "" keeps all. With it, no selectors means every job, and
// selecting none is no error.
func InState(state string) SelectOption { return jobs.InState(state) }
