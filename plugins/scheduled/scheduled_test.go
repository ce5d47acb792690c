package scheduled_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/plugins/scheduled"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// write creates the files (name → content) in dir, with their directories.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(defs []*sdk.Definition) []string {
	var out []string
	for _, d := range defs {
		out = append(out, d.Name)
	}
	return out
}

func errStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// checkDef fails unless got is want, showing both.
func checkDef(t *testing.T, got, want *sdk.Definition) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("definition %s:\n got %v\nwant %v", want.Name, prototext.Format(got), prototext.Format(want))
	}
}

const goodFile = `# Every attribute, and the defaults.
job "Backup" {
  script          = <<-EOT

    rsync -a ~/docs /backup
    echo "done $${HOME}"
  EOT
  args            = ["a", "b"]
  runtime         = "bash"
  runtime_version = "~2.0"
  run_as_32       = true
  workdir         = "work/dir"
  env             = { ZED = "last", "ALPHA" = "first", MID = "" }
  keep            = 0
  catch_up        = true
  enabled         = false
  triggers        = ["0 3 * * *", "*/10 * * * * *", "@hourly"]
}

job "Defaults" {
  script_file = "scripts/nightly.sh"
}

job "AbsoluteWorkdir" {
  script  = "pwd"
  workdir = "/srv"
  keep    = 7
  enabled = true
  env     = null
}
`

func TestDefinitionsGoodFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"good.hcl":           goodFile,
		"scripts/nightly.sh": "echo nightly\n",
		"notes.txt":          "not a definition",
		"sub/nested.hcl":     `job "Nested" { script = "x" }`,
		".#good.hcl":         "editor lock file, not HCL",
	})
	defs, problems := scheduled.New().Definitions(context.Background(), dir)
	if len(problems) > 0 {
		t.Fatalf("problems: %q", errStrings(problems))
	}
	file := filepath.Join(dir, "good.hcl")
	want := []*sdk.Definition{
		{
			Name: "Backup", Source: file + ":2",
			Runtime: "bash", RuntimeVersion: "~2.0", RunAs_32: true,
			Script:   "\nrsync -a ~/docs /backup\necho \"done ${HOME}\"\n",
			Args:     []string{"a", "b"},
			Env:      []string{"ALPHA=first", "MID=", "ZED=last"},
			Workdir:  filepath.Join(dir, "work", "dir"),
			Command:  "rsync -a ~/docs /backup",
			Triggers: []string{"0 3 * * *", "*/10 * * * * *", "@hourly"},
			Keep:     0, CatchUp: true, Disabled: true,
		},
		{
			// Listed, the script file is not read: Script stays empty
			// until Resolve.
			Name: "Defaults", Source: file + ":20",
			Runtime: "shell", Command: "scripts/nightly.sh", Keep: 32,
		},
		{
			Name: "AbsoluteWorkdir", Source: file + ":24",
			Runtime: "shell", Script: "pwd", Command: "pwd", Workdir: "/srv", Keep: 7,
		},
	}
	if len(defs) != len(want) {
		t.Fatalf("got definitions %q, want %q", names(defs), names(want))
	}
	for i := range want {
		checkDef(t, defs[i], want[i])
	}
}

func TestDefinitionsDirectory(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "never-written")
	if defs, problems := scheduled.New().Definitions(ctx, missing); len(defs) != 0 || len(problems) != 0 {
		t.Errorf("missing dir: got %d definitions and problems %q, want none", len(defs), errStrings(problems))
	}

	empty := t.TempDir()
	if defs, problems := scheduled.New().Definitions(ctx, empty); len(defs) != 0 || len(problems) != 0 {
		t.Errorf("empty dir: got %d definitions and problems %q, want none", len(defs), errStrings(problems))
	}

	file := filepath.Join(t.TempDir(), "plain.hcl")
	write(t, filepath.Dir(file), map[string]string{"plain.hcl": `job "A" { script = "x" }`})
	defs, problems := scheduled.New().Definitions(ctx, file)
	if len(defs) != 0 || len(problems) != 1 || !strings.HasPrefix(problems[0].Error(), file+": Not a directory") {
		t.Errorf("file as dir: got %d definitions and problems %q, want one saying %s is not a directory", len(defs), errStrings(problems), file)
	}
}

// A job block that is right in itself, which a bad file also holds: it is
// listed, unless its file cannot be parsed at all.
const validJob = `job "Valid" {
  script = "echo valid"
}
`

func TestDefinitionsProblems(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string // default bad.hcl
		content string
		at      string // LINE:COLUMN the problem points at
		want    string // what the message says, after "FILE:LINE:COLUMN: "
		// unparsed: the file cannot be parsed, so Valid beside the
		// problem is not listed either.
		unparsed bool
	}{
		{
			name:    "syntax error",
			content: validJob + "job \"B\" {\n  script = \n}\n",
			at:      "5:12", want: "Invalid expression: Expected the start of an expression", unparsed: true,
		},
		{
			name:    "unclosed block",
			content: validJob + "job \"B\" {\n  script = \"x\"\n",
			at:      "4:9", want: "Unclosed configuration block", unparsed: true,
		},
		{
			name:    "unknown attribute",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  colour = \"red\"\n}\n",
			at:      "6:3", want: `job "B": Unsupported argument: An argument named "colour" is not expected here.`,
		},
		{
			name:    "unknown block in a job",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  retry {\n  }\n}\n",
			at:      "6:3", want: `job "B": Unsupported block type: Blocks of type "retry" are not expected here.`,
		},
		{
			name:    "unknown top-level attribute",
			content: validJob + "timezone = \"UTC\"\n",
			at:      "4:1", want: `Unsupported argument: An argument named "timezone" is not expected here.`,
		},
		{
			name:    "job without a name",
			content: validJob + "job {\n  script = \"x\"\n}\n",
			at:      "4:5", want: "Missing name for job: All job blocks must have 1 labels (name).",
		},
		{
			name:    "job with an empty name",
			content: validJob + "job \"\" {\n  script = \"x\"\n}\n",
			at:      "4:5", want: "Invalid job name: a job's name must not be empty",
		},
		{
			name:    "job name with a wildcard",
			content: validJob + "job \"Back*\" {\n  script = \"x\"\n}\n",
			at:      "4:5", want: `job "Back*": Invalid job name: "Back*" holds a wildcard character`,
		},
		{
			name:    "neither script nor script_file",
			content: validJob + "job \"B\" {\n  args = [\"a\"]\n}\n",
			at:      "4:1", want: `job "B": Missing script: it needs script (the script itself) or script_file (a file holding it)`,
		},
		{
			name:    "both script and script_file",
			content: validJob + "job \"B\" {\n  script      = \"x\"\n  script_file = \"x.sh\"\n}\n",
			at:      "4:1", want: `job "B": Conflicting script: it sets both script and script_file; give one`,
		},
		{
			name:    "keep of the wrong type",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  keep = \"x\"\n}\n",
			at:      "6:10", want: "job \"B\": Incorrect attribute value type: keep must be a number, not a string",
		},
		{
			name:    "enabled of the wrong type",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  enabled = \"yes\"\n}\n",
			at:      "6:13", want: "job \"B\": Incorrect attribute value type: enabled must be a bool, not a string",
		},
		{
			name:    "args not a list",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  args = \"a b\"\n}\n",
			at:      "6:10", want: "job \"B\": Incorrect attribute value type: args must be a list, not a string",
		},
		{
			name:    "args element not a string",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  args = [\"a\", true]\n}\n",
			at:      "6:16", want: "job \"B\": Incorrect attribute value type: args[1] must be a string, not a bool",
		},
		{
			name:    "null in a list",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  triggers = [null]\n}\n",
			at:      "6:15", want: "job \"B\": Incorrect attribute value type: triggers[0] must be a string, not null",
		},
		{
			name:    "null script only",
			content: validJob + "job \"B\" {\n  script = null\n}\n",
			at:      "4:1", want: `job "B": Missing script: it needs script`,
		},
		{
			name:    "negative keep",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  keep = -1\n}\n",
			at:      "6:10", want: "job \"B\": Invalid keep: keep must not be negative (0 keeps every result), but is -1",
		},
		{
			name:    "fractional keep",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  keep = 1.5\n}\n",
			at:      "6:10", want: "job \"B\": Invalid keep: keep must be a whole number of results, not 1.5",
		},
		{
			name:    "bad cron expression",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  triggers = [\"@hourly\", \"61 * * * *\"]\n}\n",
			at:      "6:26", want: `job "B": Invalid trigger: "61 * * * *" is not a cron expression`,
		},
		{
			name:    "time zone with no schedule (a robfig/cron panic)",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  triggers = [\"TZ=UTC\"]\n}\n",
			at:      "6:15", want: `job "B": Invalid trigger: "TZ=UTC" is not a cron expression`,
		},
		{
			name:    "bad runtime_version",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  runtime_version = \"newest please\"\n}\n",
			at:      "6:21", want: `job "B": Invalid runtime_version: "newest please" is not a version constraint`,
		},
		{
			name:    "env value not a string",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  env = { A = \"x\", B = 1 }\n}\n",
			at:      "6:24", want: "job \"B\": Incorrect attribute value type: env.B must be a string, not a number",
		},
		{
			name:    "env not an object",
			content: validJob + "job \"B\" {\n  script = \"x\"\n  env = [\"A=x\"]\n}\n",
			at:      "6:9", want: "job \"B\": Incorrect attribute value type: env must be an object",
		},
		{
			name:    "variable in a script",
			content: validJob + "job \"B\" {\n  script = \"echo ${HOME}\"\n}\n",
			at:      "5:20", want: "job \"B\": Variables not allowed: Variables may not be used here.",
		},
		{
			name:    "empty script_file",
			content: validJob + "job \"B\" {\n  script_file = \"\"\n}\n",
			at:      "5:17", want: "job \"B\": Invalid script_file: script_file must name a file",
		},
		{
			name:    "same name twice in a file",
			content: validJob + "\n" + validJob,
			at:      "5:1", want: `job "Valid": Duplicate job name: a job named "Valid" is already defined at {{DIR}}/bad.hcl:1`,
		},
		{
			name:    "same name as in another file",
			file:    "zz.hcl",
			content: validJob + "job \"Good\" {\n  script = \"x\"\n}\n",
			at:      "4:1", want: `job "Good": Duplicate job name: a job named "Good" is already defined at {{DIR}}/good.hcl:1`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := tc.file
			if name == "" {
				name = "bad.hcl"
			}
			write(t, dir, map[string]string{
				"good.hcl": "job \"Good\" {\n  script = \"echo good\"\n}\n",
				name:       tc.content,
			})
			defs, problems := scheduled.New().Definitions(context.Background(), dir)
			// The job with the problem is left out, and only it: the
			// valid job beside it is listed, unless its file could not
			// be parsed at all.
			want := []string{"Good", "Valid"}
			if tc.unparsed {
				want = []string{"Good"}
			}
			got := names(defs)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("listed %q, want %q", got, want)
			}
			if len(problems) != 1 {
				t.Fatalf("got %d problems %q, want 1", len(problems), errStrings(problems))
			}
			prefix := filepath.Join(dir, name) + ":" + tc.at + ": "
			wantMsg := strings.ReplaceAll(tc.want, "{{DIR}}", dir)
			msg := problems[0].Error()
			if !strings.HasPrefix(msg, prefix) || !strings.HasPrefix(msg[len(prefix):], wantMsg) {
				t.Errorf("problem\n  %s\nwant it to start with\n  %s%s", msg, prefix, wantMsg)
			}
		})
	}
}

// All that is wrong with a file is reported in one pass, in order.
func TestDefinitionsSeveralProblems(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"bad.hcl": `job "A" {
  keep     = -3
  triggers = ["bad"]
}
job "B" {
  script = 1
}
`})
	_, problems := scheduled.New().Definitions(context.Background(), dir)
	file := filepath.Join(dir, "bad.hcl")
	want := []string{file + `:1:1: job "A": Missing script`, file + `:2:14: job "A": Invalid keep`, file + `:3:15: job "A": Invalid trigger`, file + `:6:12: job "B": Incorrect attribute value type`}
	got := errStrings(problems)
	if len(got) != len(want) {
		t.Fatalf("got problems %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want it to start with %q", i, got[i], want[i])
		}
	}
}

// resolveDir is a definition directory for the Resolve tests: two valid
// files and one with a problem.
func resolveDir(t *testing.T) string {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"a.hcl": `job "Backup" {
  script   = "rsync -a ~/docs /backup"
  args     = ["--verbose"]
  triggers = ["@daily"]
}

job "Build" {
  script_file = "scripts/build.sh"
}
`,
		"b.hcl": `job "Cleanup" {
  script_file = "missing.sh"
}
`,
		"c.hcl": `job "Broken" {
  script = "x"
  keep   = -1
}

job "Pruned" {
  script = "x"
  keep   = 3
}
`,
		"scripts/build.sh": "make all\n",
	})
	return dir
}

func TestResolve(t *testing.T) {
	dir := resolveDir(t)
	a := filepath.Join(dir, "a.hcl")
	for _, tc := range []struct {
		name string
		req  *sdk.ResolveRequest
		want *sdk.Definition
		err  []string // what the error says, in pieces, if it fails
	}{
		{
			name: "exact name",
			req:  &sdk.ResolveRequest{DefinitionName: "Backup"},
			want: &sdk.Definition{Name: "Backup", Source: a + ":1", Runtime: "shell", Script: "rsync -a ~/docs /backup",
				Command: "rsync -a ~/docs /backup", Args: []string{"--verbose"}, Triggers: []string{"@daily"}, Keep: 32},
		},
		{
			name: "args given replace the definition's",
			req:  &sdk.ResolveRequest{DefinitionName: "Backup", Args: []string{"x", "y"}, Workdir: "/ignored"},
			want: &sdk.Definition{Name: "Backup", Source: a + ":1", Runtime: "shell", Script: "rsync -a ~/docs /backup",
				Command: "rsync -a ~/docs /backup", Args: []string{"x", "y"}, Triggers: []string{"@daily"}, Keep: 32},
		},
		{
			name: "wildcard matching one, script_file read",
			req:  &sdk.ResolveRequest{DefinitionName: "Bu*"},
			want: &sdk.Definition{Name: "Build", Source: a + ":7", Runtime: "shell", Script: "make all\n",
				Command: "scripts/build.sh", Keep: 32},
		},
		{
			name: "name matching none",
			req:  &sdk.ResolveRequest{DefinitionName: "Restore"},
			err: []string{`no ScheduledJob definition in ` + dir + ` is named "Restore"`,
				"the definitions there are: Backup, Build, Cleanup, Pruned",
				"a job with a problem is not defined until it is fixed",
				filepath.Join(dir, "c.hcl") + `:3:12: job "Broken": Invalid keep`},
		},
		{
			name: "a job with a problem",
			req:  &sdk.ResolveRequest{DefinitionName: "broken"},
			err: []string{`the ScheduledJob definition "Broken" (` + filepath.Join(dir, "c.hcl") + `:1) cannot be used until it is fixed:`,
				filepath.Join(dir, "c.hcl") + `:3:12: job "Broken": Invalid keep: keep must not be negative`},
		},
		{
			name: "the job beside one with a problem",
			req:  &sdk.ResolveRequest{DefinitionName: "Pruned"},
			want: &sdk.Definition{Name: "Pruned", Source: filepath.Join(dir, "c.hcl") + ":6", Runtime: "shell", Script: "x",
				Command: "x", Keep: 3},
		},
		{
			name: "wildcard matching none",
			req:  &sdk.ResolveRequest{DefinitionName: "X*"},
			err:  []string{`no ScheduledJob definition in ` + dir + ` matches "X*"`, "Backup, Build, Cleanup"},
		},
		{
			name: "wildcard matching two",
			req:  &sdk.ResolveRequest{DefinitionName: "B*"},
			err:  []string{`"B*" matches 2 ScheduledJob definitions in ` + dir + `; name one:`, "Backup (" + a + ":1)", "Build (" + a + ":7)"},
		},
		{
			name: "script_file missing",
			req:  &sdk.ResolveRequest{DefinitionName: "Cleanup"},
			err:  []string{"cannot read the script file " + filepath.Join(dir, "missing.sh"), `of job "Cleanup" (` + filepath.Join(dir, "b.hcl") + ":1)", "no such file or directory"},
		},
		{
			name: "bad pattern",
			req:  &sdk.ResolveRequest{DefinitionName: "[B"},
			err:  []string{`the definition name "[B" is not a valid wildcard pattern`},
		},
		{
			name: "definition path missing",
			req:  &sdk.ResolveRequest{DefinitionName: "nosuchdef", DefinitionPath: filepath.Join(dir, "nowhere")},
			err:  []string{`cannot start the ScheduledJob definition "nosuchdef": the definition path ` + filepath.Join(dir, "nowhere") + " does not exist"},
		},
		{
			name: "definition path not a directory",
			req:  &sdk.ResolveRequest{DefinitionName: "Backup", DefinitionPath: a},
			err:  []string{`cannot start the ScheduledJob definition "Backup": the definition path ` + a + " is not a directory"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := proto.Clone(tc.req).(*sdk.ResolveRequest)
			req.Type = scheduled.Name
			if req.DefinitionPath == "" {
				req.DefinitionPath = dir
			}
			check := func(how string, def *sdk.Definition, err error) {
				t.Helper()
				if tc.err == nil {
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					checkDef(t, def, tc.want)
					return
				}
				if err == nil {
					t.Fatalf("%s: resolved to %v, want an error", how, prototext.Format(def))
				}
				for _, piece := range tc.err {
					if !strings.Contains(err.Error(), piece) {
						t.Errorf("%s: error\n%v\ndoes not say %q", how, err, piece)
					}
				}
			}
			def, err := scheduled.New().Resolve(context.Background(), req)
			check("Resolve", def, err)
			def, err = sdktest.Resolve(t, serveConfig(), req)
			check("over the protocol", def, err)
		})
	}
}

func serveConfig() *sdk.ServeConfig {
	return &sdk.ServeConfig{Name: "scheduled", Version: "1.0.0", Types: []sdk.JobType{scheduled.New()}}
}

// The listing, as the host's scheduler receives it.
func TestDefinitionsOverProtocol(t *testing.T) {
	dir := resolveDir(t)
	defs, problems := sdktest.Definitions(t, serveConfig(), scheduled.Name, dir)
	if got := names(defs); !slices.Equal(got, []string{"Backup", "Build", "Cleanup", "Pruned"}) {
		t.Errorf("listed %q, want Backup, Build, Cleanup, Pruned (Cleanup's missing script file is Resolve's to report; Broken beside Pruned is left out)", got)
	}
	want := filepath.Join(dir, "c.hcl") + `:3:12: job "Broken": Invalid keep: keep must not be negative (0 keeps every result), but is -1`
	if len(problems) != 1 || problems[0] != want {
		t.Errorf("problems %q, want [%q]", problems, want)
	}
	if len(defs) > 0 {
		checkDef(t, defs[0], &sdk.Definition{Name: "Backup", Source: filepath.Join(dir, "a.hcl") + ":1", Runtime: "shell",
			Script: "rsync -a ~/docs /backup", Command: "rsync -a ~/docs /backup", Args: []string{"--verbose"},
			Triggers: []string{"@daily"}, Keep: 32})
	}

	defs, problems = sdktest.Definitions(t, serveConfig(), scheduled.Name, filepath.Join(dir, "nowhere"))
	if len(defs) != 0 || len(problems) != 0 {
		t.Errorf("missing dir over the protocol: %d definitions, problems %q; want none", len(defs), problems)
	}
}

func TestCronParser(t *testing.T) {
	for _, spec := range []string{"*/2 * * * * *", "0 3 * * *", "@hourly", "@every 1h30m", "CRON_TZ=UTC 0 3 * * *"} {
		if _, err := scheduled.CronParser.Parse(spec); err != nil {
			t.Errorf("CronParser rejects %q: %v", spec, err)
		}
		if _, err := scheduled.ParseTrigger(spec); err != nil {
			t.Errorf("ParseTrigger rejects %q: %v", spec, err)
		}
	}
	for _, spec := range []string{"61 * * * *", "", "* * *", "@reboot", "TZ=UTC"} {
		if _, err := scheduled.ParseTrigger(spec); err == nil {
			t.Errorf("ParseTrigger accepts %q", spec)
		}
	}
	if _, err := scheduled.CronParser.Parse("61 * * * *"); err == nil {
		t.Error(`CronParser accepts "61 * * * *"`)
	}
}
