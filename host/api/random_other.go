//go:build !linux

package api

import "crypto/rand"

// randomBytes fills b from the system's random source.
func randomBytes(b []byte) { _, _ = rand.Read(b) }
