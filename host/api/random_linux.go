package api

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// randomBytes fills b from the kernel's random source. The CLI makes an
// instance id for every start, and getrandom(2) spares it crypto/rand,
// whose packages' initialisation (the FIPS module's self-description and
// its random generator) every call paid at start whether or not it made
// an id.
//
// It is the system call itself, not x/sys's Getrandom: that one goes
// through the vDSO, whose first use in a process maps and faults in a
// per-thread state, with a flush of the other processors' TLBs, to save
// system calls a process making one id never makes (perf: 28 µs of a
// start's CPU, more than the call).
func randomBytes(b []byte) {
	for len(b) > 0 {
		n, _, errno := syscall.Syscall(unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
		if errno != 0 {
			if errno == syscall.EINTR {
				continue
			}
			panic("getrandom: " + errno.Error()) // no kernel since 3.17 lacks it
		}
		b = b[n:]
	}
}
