//go:build unix

package shell

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// getUmask reads the mask from /proc where Linux shows it; elsewhere it
// sets and restores it, the only way there is (a file another goroutine
// creates in that moment gets no mask).
func getUmask() (uint32, error) {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
				m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
				return uint32(m), err
			}
		}
	}
	m := syscall.Umask(0)
	syscall.Umask(m)
	return uint32(m), nil
}

func setUmask(m uint32) error {
	syscall.Umask(int(m))
	return nil
}
