package slurmloc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

// An sbatch option that would run the job otherwise than bgjob follows it
// is refused at the start: an array ran the script once per index while
// bgjob showed one run.
func TestCheckSlurmArg(t *testing.T) {
	for _, tt := range []struct {
		arg, want string
	}{
		{"--mem=4G", ""},
		{"--account=proj", ""},
		{"-A", ""},
		{"--exclude=n1", ""},
		{"--nodelist=n1", "give bgjob's --nodelist"},
		{"-wn1", "give bgjob's --nodelist"},
		{"-w", "give bgjob's --nodelist"},
		{"--nodefile=/tmp/nodes", "give bgjob's --nodelist"},
		{"--ntasks-per-node=2", "tasks per node would run tasks bgjob has no child job for"},
		{"--array=0-2", "an array runs the script once per index"},
		{"-a0-2", "an array runs the script once per index"},
		{"--ntasks=4", "give bgjob's --ntasks or --nodes"},
		{"-N2", "give bgjob's --ntasks or --nodes"},
	} {
		err := checkSlurmArg(tt.arg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want it passed to sbatch", tt.arg, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want a refusal saying %q", tt.arg, err, tt.want)
		}
	}
}

// A job of more tasks or nodes than bgjob follows is refused at the start,
// saying the limit and what to do instead, before a child job is made:
// --ntasks 100000 made 100,000 child jobs.
func TestCheckTaskCount(t *testing.T) {
	nodes := func(n int) string {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprint("n", i)
		}
		return strings.Join(names, ",")
	}
	for _, tt := range []struct {
		name string
		s    api.SlurmRequest
		want string
	}{
		{"one task", api.SlurmRequest{Tasks: 1}, ""},
		{"1024 tasks", api.SlurmRequest{Tasks: 1024, Nodes: 4}, ""},
		{"1024 nodes named", api.SlurmRequest{NodeList: nodes(1024)}, ""},
		{"100000 tasks", api.SlurmRequest{Tasks: 100000}, "--ntasks 100000: a job on Slurm has at most 1024 tasks or nodes"},
		{"1025 tasks", api.SlurmRequest{Tasks: 1025}, "--ntasks 1025: a job on Slurm has at most 1024"},
		{"1025 nodes", api.SlurmRequest{Nodes: 1025}, "--nodes 1025: a job on Slurm has at most 1024"},
		{"more nodes than tasks", api.SlurmRequest{Tasks: 8, Nodes: 5000}, "--nodes 5000:"},
		{"1025 nodes named", api.SlurmRequest{NodeList: nodes(1025)}, "--nodelist names 1025 nodes: a job on Slurm has at most 1024"},
	} {
		err := (&Location{}).Check(&api.StartRequest{Slurm: &tt.s}, true)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--foreach")):
			t.Errorf("%s: %v, want a refusal saying %q and what to use instead", tt.name, err, tt.want)
		}
	}
	// A range or a file names more nodes than its commas: refused, not
	// counted as one.
	for _, list := range []string{"n[1-2000]", "n1,n[2-3]", "/home/me/nodes.txt", "./nodes"} {
		err := (&Location{}).Check(&api.StartRequest{Slurm: &api.SlurmRequest{NodeList: list}}, true)
		if err == nil || !strings.Contains(err.Error(), "give the nodes' names separated by commas") || !strings.Contains(err.Error(), "scontrol show hostnames") {
			t.Errorf("--nodelist %s: %v, want a refusal saying to name the nodes", list, err)
		}
	}
}
