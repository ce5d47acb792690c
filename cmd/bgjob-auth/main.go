// Command bgjob-auth checks a user's password for the bgjob system host,
// through PAM's "bgjob" service: `bgjob-auth USER` reads the password from
// stdin and exits 0 if PAM accepts it for USER (authentication and account
// checks), 1 if it does not, 2 if it cannot tell.
//
// It is a program of its own so that the host and the CLI stay static Go
// binaries: PAM needs cgo. The service file (docs/system/pam.d/bgjob) includes
// the system's common-auth and common-account; the host never uses su's
// service, which lets root in with any password. Null passwords are refused.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// service is the PAM service bgjob-auth asks.
const service = "bgjob"

func main() {
	confDir := flag.String("confdir", "", "read the PAM service file from this directory instead of /etc/pam.d (for tests)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: bgjob-auth [-confdir DIR] USER   (the password on stdin)")
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	line, err := bufio.NewReader(io.LimitReader(os.Stdin, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, "bgjob-auth: cannot read the password:", err)
		os.Exit(2)
	}
	os.Exit(check(flag.Arg(0), strings.TrimRight(line, "\r\n"), *confDir))
}
