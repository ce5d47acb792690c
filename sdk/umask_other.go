//go:build !unix

package sdk

func setUmask(uint32) {}
