package host

// Idle reports whether the host has nothing to do now: no job running or
// queued (every job has finished), no receive draining a job's records,
// no on-end hook running or due, and no enabled stored definition with triggers to fire (nor one being
// fired). A per-user host that stays idle for a while may exit (bgjobd
// -idle-exit): nothing is lost, since the next command starts a host
// again and finished jobs are kept in the job table.
//
// Calls in progress are the server's business; a wait, or a receive with
// --wait, is only in progress while one of its jobs runs or is queued,
// which Idle sees.
func (h *Host) Idle() bool {
	if h.t.Busy() || h.ev.Busy() {
		return false
	}
	return h.trig == nil || h.trig.Idle()
}
