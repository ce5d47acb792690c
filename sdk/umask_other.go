//go:build !unix

package sdk

func setUmask(uint32) {}

var initialUmask uint32
