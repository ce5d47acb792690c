package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"

	"github.com/bgjob/bgjob/host/api"
)

// start --foreach FILE|- (ForEach-Object -Parallel -AsJob): one batch, a
// parent job with a child job per line of FILE (or of stdin for -), in one
// call. The line is the child's "$1" and $BGJOB_ITEM.

// readItems reads --foreach's items: one per line, without the line's end
// (\n or \r\n); blank lines (only spaces and tabs, or nothing) are
// skipped. No items at all is an error, so that an empty input starts no
// job.
func readItems(source string, inputs []string) ([]string, error) {
	var r io.Reader
	name := source
	if source == "-" {
		if len(inputs) == 1 && inputs[0] == "-" {
			return nil, api.Errorf(api.ExitUsage, "--foreach - and --input - both read stdin; give the job's input with --input-file or --input VALUE")
		}
		r, name = os.Stdin, "stdin"
	} else {
		if source == "" {
			return nil, api.Errorf(api.ExitUsage, "--foreach is empty; give a file of items, one a line, or - for stdin")
		}
		f, err := os.Open(source)
		if err != nil {
			return nil, api.Errorf(api.ExitUsage, "cannot read --foreach: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, api.MaxInput+1))
	if err != nil {
		return nil, api.Errorf(api.ExitUsage, "cannot read --foreach %s: %w", name, err)
	}
	if len(data) > api.MaxInput {
		return nil, api.Errorf(api.ExitUsage, "--foreach %s is larger than 64 MiB; split it into several batches", name)
	}
	var items []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), api.MaxInput)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		items = append(items, line)
	}
	if err := sc.Err(); err != nil {
		return nil, api.Errorf(api.ExitUsage, "cannot read --foreach %s: %w", name, err)
	}
	if len(items) == 0 {
		return nil, api.Errorf(api.ExitUsage, "--foreach %s has no items (it is empty or only blank lines); no job was started", name)
	}
	return items, nil
}
