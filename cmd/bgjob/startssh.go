package main

import (
	"bufio"
	"bytes"
	"os"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

// sshFlags fills req.SSH from --computer-name and --computer-name-file (read
// here: the file is the caller's), which imply --location ssh, and takes
// --throttle-limit for the computers rather than for thread jobs.
func sshFlags(cmd *cobra.Command, req *api.StartRequest, computers []string, file string) error {
	var names []string
	for _, c := range computers {
		if c = strings.TrimSpace(c); c != "" {
			names = append(names, c)
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return api.Errorf(api.ExitUsage, "--computer-name-file: %v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			names = append(names, line)
		}
		if len(names) == 0 {
			return api.Errorf(api.ExitUsage, "--computer-name-file %s names no computer", file)
		}
	}
	given := cmd.Flags().Changed("computer-name") || cmd.Flags().Changed("host-name") || file != ""
	if given && req.Location == "" {
		req.Location = api.LocationSSH
	}
	if !strings.EqualFold(req.Location, api.LocationSSH) {
		if given {
			return api.Errorf(api.ExitUsage, "--computer-name and --computer-name-file go with --location ssh")
		}
		return nil
	}
	if len(names) == 0 {
		return api.Errorf(api.ExitUsage, "--location ssh runs the job on the computers --computer-name (a,b) or --computer-name-file names; give some")
	}
	if cmd.Flags().Changed("workdir") {
		return api.Errorf(api.ExitUsage, "--workdir is a directory of this machine; a job over ssh starts in the home directory there (cd in the script)")
	}
	req.SSH = &api.SSHRequest{Computers: names, ThrottleLimit: req.ThrottleLimit}
	if cmd.Flags().Changed("throttle-limit") && req.ThrottleLimit <= 0 {
		return api.Errorf(api.ExitUsage, "--throttle-limit %d: give a positive number", req.ThrottleLimit)
	}
	req.ThrottleLimit = 0 // the computers', not thread jobs'
	return nil
}
