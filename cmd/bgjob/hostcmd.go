package main

import (
	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func newHost() *cobra.Command {
	return &cobra.Command{
		Use:                "host [bgjobd flags]",
		Short:              "Run the host daemon in the foreground",
		Long:               "Run the host daemon (bgjobd) in the foreground. Other commands start it on demand; a second host on the same $BGJOB_HOME refuses to start. With --system (as root) it is the system host, which serves every local user at " + api.SystemSocket + " and runs each job as its user. Flags are bgjobd's (see 'bgjob host -help').",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := hostBinary()
			if err != nil {
				return api.WithCode(api.ExitUnavailable, err)
			}
			argv := append([]string{bin}, args...)
			if home, err := api.DefaultHome(); err == nil && !hasFlag(args, "home") && !hasFlag(args, "system") {
				argv = append([]string{bin, "-home", home}, args...)
			}
			return api.WithCode(api.ExitUnavailable, execHost(bin, argv))
		},
	}
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || len(a) > len(name)+2 && (a[:len(name)+2] == "-"+name+"=" || a[:len(name)+3] == "--"+name+"=") {
			return true
		}
	}
	return false
}
