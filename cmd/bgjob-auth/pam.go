//go:build cgo && linux

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/msteinert/pam/v2"
)

// check asks PAM whether password is user's: 0 yes, 1 no, 2 cannot tell.
func check(user, password, confDir string) int {
	conv := func(s pam.Style, msg string) (string, error) {
		switch s {
		case pam.PromptEchoOff, pam.PromptEchoOn:
			return password, nil
		case pam.ErrorMsg, pam.TextInfo:
			fmt.Fprintln(os.Stderr, "bgjob-auth:", msg)
			return "", nil
		}
		return "", errors.New("unsupported PAM conversation")
	}
	var t *pam.Transaction
	var err error
	if confDir != "" {
		t, err = pam.StartConfDir(service, user, pam.ConversationFunc(conv), confDir)
	} else {
		t, err = pam.StartFunc(service, user, conv)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgjob-auth: cannot start PAM:", err)
		return 2
	}
	defer t.End()
	if err := t.Authenticate(pam.DisallowNullAuthtok); err != nil {
		fmt.Fprintln(os.Stderr, "bgjob-auth:", err)
		return 1
	}
	if err := t.AcctMgmt(pam.DisallowNullAuthtok); err != nil {
		fmt.Fprintln(os.Stderr, "bgjob-auth:", err)
		return 1
	}
	return 0
}
