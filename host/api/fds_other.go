//go:build !unix

package api

import "net"

func sendRequest(c net.Conn, frame []byte, _, _ any) error {
	_, err := c.Write(frame)
	return err
}
