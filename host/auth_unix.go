//go:build unix

package host

import "os"

// canSwitchUsers: only root can start a process as another user.
func (h *Host) canSwitchUsers() bool { return os.Geteuid() == 0 }

// authenticate lets caller run a job as acct: root may; anyone else proves
// acct's password (PAM, through the helper).
func (h *Host) authenticate(caller Caller, acct *account, password string) (uintptr, error) {
	if caller.Root() {
		return 0, nil
	}
	return 0, h.checkPassword(caller, acct.Name, password)
}
