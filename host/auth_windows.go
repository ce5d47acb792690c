package host

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// canSwitchUsers: a system host (a service, with the privileges to start
// processes with other users' tokens).
func (h *Host) canSwitchUsers() bool { return h.opts.System }

var procLogonUser = windows.NewLazySystemDLL("advapi32.dll").NewProc("LogonUserW")

// Logon types and providers of LogonUser.
const (
	logon32LogonInteractive = 2
	logon32ProviderDefault  = 0
)

// authenticate logs acct on with password (LogonUser) and returns the token
// the job's runtime is started with.
func (h *Host) authenticate(caller Caller, acct *account, password string) (uintptr, error) {
	if password == "" {
		return 0, errorf(ErrDenied, "running a job as %s needs %s's password", acct.Name, acct.Name)
	}
	user, err := windows.UTF16PtrFromString(acct.Name)
	if err != nil {
		return 0, errorf(ErrBadRequest, "bad user name %q: %w", acct.Name, err)
	}
	domain, _ := windows.UTF16PtrFromString(".")
	pw, err := windows.UTF16PtrFromString(password)
	if err != nil {
		return 0, errorf(ErrBadRequest, "the password holds a NUL")
	}
	var token windows.Token
	r, _, callErr := procLogonUser.Call(uintptr(unsafe.Pointer(user)), uintptr(unsafe.Pointer(domain)), uintptr(unsafe.Pointer(pw)),
		logon32LogonInteractive, logon32ProviderDefault, uintptr(unsafe.Pointer(&token)))
	if r == 0 {
		return 0, errorf(ErrDenied, "the password for %s was not accepted: %v", acct.Name, callErr)
	}
	return uintptr(token), nil
}
