// Package durable makes files durable (fsync, fdatasync) the way that
// costs the host least on the disks it usually meets.
//
// The host runs its goroutines on one processor by default. An ordinary
// system call that blocks for more than a few tens of microseconds, as a
// sync does on any disk, has Go's monitor thread take that processor away
// and wake another thread to look for work, which finds none and sleeps
// again; the syncing thread then has to win the processor back. On a
// small virtual machine every such hand-over is a context switch of
// several microseconds, and a job that runs makes three syncs (its
// submit, its start, its end): paired over 200 trivial jobs one by one,
// about 7 context switches a job fewer and the machine's time a job
// 8–9% lower with the syncs made as raw system calls, which keep the
// processor.
//
// Keeping the processor through a sync stops the host's other work for
// the sync's duration. That is a few hundred microseconds on an SSD or a
// virtual disk, but could be tens of milliseconds on a spinning disk and
// longer on a network filesystem. So a sync is made raw only while syncs
// are fast: one that takes longer than slow sends every sync of the next
// minute back to the ordinary call, which lets the host's other
// goroutines go on meanwhile.
package durable
