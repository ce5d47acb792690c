// Package runner runs jobs: the queue (package jobs) hands a job it has
// made Running to Manager.Run, which gets it a runtime process from the
// launcher, hands the runtime the job and relays its records into the
// job's log, acknowledging each batch once it is written, until the
// runtime says how the job ended; then it records the outcome and gives
// the process back (a clean one may run the next job of its spec).
//
// Stop, Suspend and Resume act on running jobs; Recover, when a host
// starts, loads the job table and takes back the jobs the previous host
// left: it reattaches to their runtimes (which kept what they had not had
// acknowledged), waits for a stopped one to run again, and fails, with the
// reason, a job it cannot take back, never running one twice.
package runner
