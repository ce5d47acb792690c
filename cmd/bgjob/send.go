package main

import (
	"errors"
	"io"
	"os"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func newSend() *cobra.Command {
	var noNewline, eof bool
	cmd := &cobra.Command{
		Use:   "send [flags] JOB TEXT | send JOB - | send --eof JOB",
		Short: "Write to a running job's standard input (pueue send)",
		Long: `Write TEXT, followed by a newline unless --no-newline, to the standard input
of a running job that was started with 'bgjob start --stdin-open'. The job
reads it as it would read a line typed at a terminal.

With - instead of TEXT, send what this command reads on its standard input,
as it comes, until end of file, and then close the job's input: the job
reads end of file (interrupted with Ctrl-C, it stops sending and leaves the
input open). --eof closes the job's input after TEXT, or at once without
TEXT. A send waits while the job's input pipe is full.

Only a running job takes input: a job not started with --stdin-open, one
that has not started yet or has finished, and a job of the legacy 1.x
runtime line (protocol 1 has no input) are refused, and nothing is sent.
The input pipe belongs to the job's runtime, so a restarted host (even one
killed with kill -9) sends to the same job again.`,
		Example: `  bgjob start --stdin-open --name Calc -- 'while read a b; do echo $((a + b)); done'
  bgjob send Calc '1 2'
  printf '3 4\n5 6\n' | bgjob send Calc -
  bgjob send --eof Calc`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return needJob("send input to")(cmd, args)
			case len(args) > 2:
				return api.Errorf(api.ExitUsage, "send takes a job and one TEXT; quote the text (bgjob send JOB 'a b c')")
			case len(args) == 1 && !eof:
				return api.Errorf(api.ExitUsage, "give the TEXT to send, - to send this command's standard input, or --eof to close the job's input")
			case noNewline && len(args) == 2 && args[1] == "-":
				return api.Errorf(api.ExitUsage, "--no-newline goes with TEXT; with - what is read is sent as it is")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			job := args[:1]
			if len(args) == 2 && args[1] == "-" {
				return sendStream(job, os.Stdin)
			}
			var data []byte
			if len(args) == 2 {
				data = []byte(args[1])
				if !noNewline {
					data = append(data, '\n')
				}
			}
			return call(&api.Request{Op: api.OpSend, Jobs: job, Send: &api.SendRequest{Data: data, EOF: eof}})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&noNewline, "no-newline", "n", false, "send TEXT as it is, without the newline otherwise added after it")
	f.BoolVar(&eof, "eof", false, "close the job's input (after TEXT, if given): the job reads end of file")
	return cmd
}

// sendStream sends what r gives, piece by piece as it comes (a line at a
// time from a terminal), each piece written to the job before the next
// is read, and then closes the job's input.
func sendStream(job []string, r io.Reader) error {
	buf := make([]byte, api.MaxSend)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if err := call(&api.Request{Op: api.OpSend, Jobs: job, Send: &api.SendRequest{Data: buf[:n]}}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return call(&api.Request{Op: api.OpSend, Jobs: job, Send: &api.SendRequest{EOF: true}})
		}
		if err != nil {
			return api.WithCode(api.ExitUsage, err)
		}
	}
}
