package api

import "golang.org/x/sys/unix"

// randomBytes fills b from the kernel's random source. The CLI makes an
// instance id for every start, and getrandom(2) spares it crypto/rand,
// whose packages' initialisation (the FIPS module's self-description and
// its random generator) every call paid at start whether or not it made
// an id.
func randomBytes(b []byte) {
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			panic("getrandom: " + err.Error()) // no kernel since 3.17 lacks it
		}
		b = b[n:]
	}
}
