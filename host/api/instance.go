package api

import "fmt"

// NewInstanceID returns a random (version 4) UUID, in the lower-case form
// job instance ids have.
func NewInstanceID() string {
	var b [16]byte
	randomBytes(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ValidInstanceID reports whether s is a UUID in the form NewInstanceID
// makes (36 characters, lower-case hex, dashes at 8, 13, 18 and 23): the
// only form a caller may choose, so that an id never doubles as a job's
// number or name in a selector, nor differs from another only in case.
func ValidInstanceID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
