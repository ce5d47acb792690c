package slurmloc

import (
	"strings"
	"testing"
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
		{"--nodelist=n1", ""},
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
