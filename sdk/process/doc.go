// Package process answers the questions a runtime (and the host that
// supervises it) asks about processes: is this process still alive, and does
// this process group still have live members.
//
// Both look past zombies. An orphan stays a zombie for good under a pid 1
// that does not reap (a container's init often does not), so "kill(pid, 0)
// succeeds" would make every ended orphan look alive; on Linux the answers
// come from /proc instead, parsed in one place (stat.go).
package process
