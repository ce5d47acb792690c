package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

// newCompletion is `bgjob completion SHELL`: cobra's completion scripts,
// which call back `bgjob __complete ...` for what to offer.
func newCompletion() *cobra.Command {
	shells := []string{"bash", "zsh", "fish"}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print the shell completion script for bash, zsh or fish",
		Long: `Print a script that makes the shell complete bgjob's commands and flags,
and also: the jobs of get, receive, wait, stop and remove (their ids and
names, asked of your host if one is running: completing never starts one),
the states of --state (typed in any case: --state r completes to running),
the formats of -o, the queue groups of --group (as 'bgjob queue' lists
them, and your jobs'), the installed versions of --runtime-version (of
--runtime's runtime, default shell), the runtimes of --runtime, and the job
types of --type (BackgroundJob and those the installed plugins serve).

Load it in every new shell:

  bash  add 'source <(bgjob completion bash)' to ~/.bashrc, or write it to
        ~/.local/share/bash-completion/completions/bgjob (where the
        bash-completion package loads it on demand); it works in a plain
        bash too, without that package
  zsh   write it to a directory on $fpath as _bgjob (compinit must run), or
        add 'source <(bgjob completion zsh)' to ~/.zshrc after compinit
  fish  write it to ~/.config/fish/completions/bgjob.fish`,
		Example: `  source <(bgjob completion bash)
  bgjob completion bash > ~/.local/share/bash-completion/completions/bgjob
  bgjob completion zsh > "${fpath[1]}/_bgjob"
  bgjob completion fish > ~/.config/fish/completions/bgjob.fish`,
		ValidArgs: shells,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return api.Errorf(api.ExitUsage, "give the shell to complete for: bash, zsh or fish")
			}
			for _, s := range shells {
				if args[0] == s {
					return nil
				}
			}
			return api.Errorf(api.ExitUsage, "bgjob completes bash, zsh and fish, not %q", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				var b bytes.Buffer
				if err := root.GenBashCompletionV2(&b, true); err != nil {
					return err
				}
				script, err := plainBash(b.String(), root.Name())
				if err != nil {
					return err
				}
				_, err = io.WriteString(out, script)
				return err
			case "zsh":
				return root.GenZshCompletion(out)
			default:
				return root.GenFishCompletion(out, true)
			}
		},
	}
}

// plainBash makes cobra's bash script work in a bash without the
// bash-completion package, which it otherwise needs (without it every TAB
// says "_get_comp_words_by_ref: command not found"): where that package's
// functions are missing, the script uses small ones of its own. An error
// means cobra's script changed shape: the tests run it in a plain bash.
func plainBash(script, name string) (string, error) {
	words := `    _get_comp_words_by_ref "$@" cur prev words cword` + "\n"
	if strings.Count(script, words) != 1 || !strings.Contains(script, "_filedir") {
		return "", fmt.Errorf("cobra's bash completion script is not as expected; cannot make it work without bash-completion")
	}
	script = strings.Replace(script, words, `    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref "$@" cur prev words cword
    else
        __NAME_plain_words
    fi
`, 1)
	script = regexp.MustCompile(`\b_filedir\b`).ReplaceAllString(script, "__NAME_filedir")
	script += `
# Without the bash-completion package, bgjob completes all the same with
# these in its place.
#
# __NAME_plain_words sets words, cword, cur and prev as
# "_get_comp_words_by_ref -n =: cur prev words cword" does: the line's words
# up to the cursor, the current one cut at the cursor, and words that bash
# split at = or : (--state=Running) joined again.
__NAME_plain_words()
{
    local i w rest=${COMP_LINE:0:COMP_POINT} glued n
    words=()
    for ((i = 0; i <= COMP_CWORD && i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        glued=1
        while [[ $rest == [[:space:]]* ]]; do
            rest=${rest:1}
            glued=0
        done
        if ((i == COMP_CWORD)); then
            w=$rest
        elif [[ $rest == "$w"* ]]; then
            rest=${rest:${#w}}
        fi
        n=${#words[@]}
        if ((n > 0 && glued)) && [[ $w == [=:]* || ${words[n-1]} == *[=:] ]]; then
            words[n-1]+=$w
        else
            words+=("$w")
        fi
    done
    cword=$((${#words[@]} - 1))
    cur=${words[cword]}
    prev=
    if ((cword > 0)); then
        prev=${words[cword-1]}
    fi
}

# __NAME_filedir completes directories (-d) or files, as bash-completion's
# _filedir does, which it uses when there. (bgjob filters files by no
# extension, so _filedir's filter argument is not needed.)
__NAME_filedir()
{
    if declare -F _filedir >/dev/null 2>&1; then
        _filedir "$@"
        return
    fi
    local IFS=$'\n'
    if [[ ${1-} == -d ]]; then
        COMPREPLY=($(compgen -d -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    compopt -o filenames 2>/dev/null
}
`
	return strings.ReplaceAll(script, "__NAME_", "__"+name+"_"), nil
}

// registerCompletions tells cobra what the arguments and flag values of
// root's commands complete to. Commands and flags it does not find are
// left alone.
func registerCompletions(root *cobra.Command) {
	unfinished := func(j *api.Job) bool { return !j.State.Finished() }
	for name, keep := range map[string]func(*api.Job) bool{
		"get": nil, "receive": nil, "wait": nil, "remove": nil, "events": nil,
		"stop":    unfinished, // only what can be stopped
		"suspend": func(j *api.Job) bool { return !j.State.Finished() && j.State != api.Suspended },
		"resume":  func(j *api.Job) bool { return j.State == api.Suspended },
		"restart": func(j *api.Job) bool { return j.State.Finished() },
	} {
		if c := subcommand(root, name); c != nil {
			c.ValidArgsFunction = completeJobs(keep)
		}
	}
	if c := subcommand(root, "send"); c != nil {
		// One job, then text of the user's own.
		open := completeJobs(func(j *api.Job) bool { return j.State == api.Running && j.StdinOpen })
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return open(cmd, args, toComplete)
		}
	}
	if c := subcommand(root, "runtime"); c != nil {
		c.ValidArgsFunction = completeRuntimeCmd
	}
	if c := subcommand(root, "definition"); c != nil {
		c.ValidArgsFunction = func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return fixed(api.DefinitionList, api.DefinitionShow, api.DefinitionEnable, api.DefinitionDisable, api.DefinitionReload)(nil, nil, toComplete)
		}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		flag := func(name string, f cobra.CompletionFunc) {
			if c.Flags().Lookup(name) != nil && !c.DisableFlagParsing {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
		flag("state", completeStates)
		flag("after", completeJobs(nil))
		if c.Name() == "start" {
			flag("location", fixed(api.LocationLocal, api.LocationSlurm))
		}
		flag("runtime-version", completeRuntimeVersions)
		flag("runtime", completeRuntimes)
		flag("type", completeTypes)
		flag("workdir", dirsOnly)
		flag("definition-path", dirsOnly)
		if formats := outputFormats(c); formats != nil {
			flag("output", fixed(formats...))
		}
		flag("group", completeGroups)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// subcommand is root's command called name, or nil.
func subcommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// completionTimeout bounds the question to the host: a shell waiting for
// candidates must not hang.
const completionTimeout = 3 * time.Second

// completeJobs offers the caller's jobs (those keep accepts; nil: all) by
// id and by name, leaving out what is already on the command line.
func completeJobs(keep func(*api.Job) bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		given := map[string]bool{}
		for _, a := range args {
			given[a] = true
		}
		var ids, names []string
		byName := map[string][]string{}
		for _, j := range hostJobs() {
			if keep != nil && !keep(j) {
				continue
			}
			id := strconv.FormatUint(j.ID, 10)
			if !given[id] && strings.HasPrefix(id, toComplete) {
				ids = append(ids, id+"\t"+j.Name+", "+string(j.State))
			}
			if j.Name != "" && !given[j.Name] && strings.HasPrefix(j.Name, toComplete) {
				if byName[j.Name] == nil {
					names = append(names, j.Name)
				}
				byName[j.Name] = append(byName[j.Name], id+" "+string(j.State))
			}
		}
		out := ids
		for _, n := range names {
			out = append(out, n+"\tjob "+strings.Join(byName[n], ", "))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// hostJobs lists the caller's jobs, asking the host that serves them; nil
// when none answers.
func hostJobs() []*api.Job {
	var jobs []*api.Job
	if err := json.Unmarshal(askHost(&api.Request{Op: api.OpGet, Output: api.FormatJSON}), &jobs); err != nil {
		return nil
	}
	return jobs
}

// completeGroups offers the queue's groups, as 'bgjob queue' lists them,
// and those of the caller's jobs, asked of the host if one runs.
func completeGroups(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	seen := map[string]bool{}
	var out []string
	add := func(g string) {
		if g != "" && !seen[g] && strings.HasPrefix(g, toComplete) {
			seen[g] = true
			out = append(out, g)
		}
	}
	var q api.Queue
	if json.Unmarshal(askHost(&api.Request{Op: api.OpQueue, Queue: &api.QueueRequest{}, Output: api.FormatJSON}), &q) == nil {
		for _, g := range q.Groups {
			add(g.Name)
		}
	}
	for _, j := range hostJobs() {
		add(j.GroupOf())
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// askHost sends req to the host that serves the caller and returns what
// it printed; nil when none answers, or not in time. It never starts a
// host: a user's host is only dialled (api.Dial), and the system host is
// never started from here anyway.
func askHost(req *api.Request) []byte {
	var c *api.Client
	var err error
	if systemSocket() != "" {
		c, err = connect()
	} else {
		home, herr := api.DefaultHome()
		if herr != nil {
			return nil
		}
		c, err = api.Dial(home)
	}
	if err != nil {
		return nil
	}
	defer c.Close()
	var out bytes.Buffer
	done := make(chan bool, 1)
	go func() {
		code, err := c.Do(req, &out, io.Discard)
		done <- err == nil && code == 0
	}()
	select {
	case ok := <-done:
		if !ok {
			return nil
		}
	case <-time.After(completionTimeout):
		return nil
	}
	return out.Bytes()
}

// completeStates offers the states that begin with what was typed,
// whatever its case, as the host matches them. The shells keep only the
// candidates that begin with what was typed, as typed, so a candidate
// keeps the typed letters and goes on in the state's own: --state r
// completes to running, which the host takes as Running.
func completeStates(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []string
	for _, s := range api.AllStates {
		name := string(s)
		if len(toComplete) <= len(name) && strings.EqualFold(name[:len(toComplete)], toComplete) {
			out = append(out, toComplete+name[len(toComplete):])
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeRuntimeCmd completes `bgjob runtime ...`, whose flags are
// bgjobd's (cobra passes them along as arguments): the subcommand, then
// install's files, and remove's NAME and VERSION from the catalog.
func completeRuntimeCmd(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return fixed("list", "install", "remove", "verify")(nil, nil, toComplete)
	}
	var pos []string
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--arch" || a == "-arch" || a == "-o" || a == "--output" || a == "-output":
			i++ // its value
		case !strings.HasPrefix(a, "-"):
			pos = append(pos, a)
		}
	}
	switch args[0] {
	case "install":
		return nil, cobra.ShellCompDirectiveDefault
	case "remove":
		seen := map[string]bool{}
		var out []string
		for _, m := range installedPlugins() {
			var c string
			switch len(pos) {
			case 0:
				c = m.dirName
			case 1:
				if m.dirName != pos[0] {
					continue
				}
				c = m.version
			default:
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			if !seen[c] && strings.HasPrefix(c, toComplete) {
				seen[c] = true
				out = append(out, c)
			}
		}
		if len(pos) == 1 {
			sort.SliceStable(out, func(i, j int) bool { return compareVersions(out[i], out[j]) > 0 })
		} else {
			sort.Strings(out)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeRuntimeVersions offers the installed versions of --runtime's
// runtime (default shell) built for this OS, newest first, each with its
// architectures.
func completeRuntimeVersions(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	name := "shell"
	if f := cmd.Flags().Lookup("runtime"); f != nil && f.Value.String() != "" {
		name = f.Value.String()
	}
	archs := map[string][]string{}
	var versions []string
	for _, m := range installedPlugins() {
		if m.dirName != name || m.os != runtime.GOOS {
			continue
		}
		if archs[m.version] == nil {
			versions = append(versions, m.version)
		}
		archs[m.version] = append(archs[m.version], m.arch)
	}
	sort.SliceStable(versions, func(i, j int) bool { return compareVersions(versions[i], versions[j]) > 0 })
	var out []string
	for _, v := range versions {
		// This machine's architecture first.
		sort.SliceStable(archs[v], func(i, j int) bool {
			a, b := archs[v][i], archs[v][j]
			return a == runtime.GOARCH && b != runtime.GOARCH
		})
		if strings.HasPrefix(v, toComplete) {
			out = append(out, v+"\t"+name+" "+v+" ("+strings.Join(archs[v], ", ")+")")
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeRuntimes offers the installed runtimes (not job type plugins).
func completeRuntimes(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	seen := map[string]bool{}
	var out []string
	for _, m := range installedPlugins() {
		if m.Kind == "jobtype" || seen[m.dirName] || !strings.HasPrefix(m.dirName, toComplete) {
			continue
		}
		seen[m.dirName] = true
		out = append(out, m.dirName)
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeTypes offers BackgroundJob and the job types the installed
// plugins serve.
func completeTypes(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	served := map[string]string{} // type: plugin
	for _, m := range installedPlugins() {
		for _, t := range m.JobTypes {
			if t.Name != "" && served[t.Name] == "" {
				served[t.Name] = m.dirName
			}
		}
	}
	var types []string
	for t := range served {
		types = append(types, t)
	}
	sort.Strings(types)
	var out []string
	if strings.HasPrefix(api.BackgroundJob, toComplete) {
		out = append(out, api.BackgroundJob+"\ta script in a runtime (the default)")
	}
	for _, t := range types {
		if t != api.BackgroundJob && strings.HasPrefix(t, toComplete) {
			out = append(out, t+"\tserved by "+served[t])
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func dirsOnly(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// fixed offers the given values.
func fixed(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []string
		for _, v := range values {
			if strings.HasPrefix(v, toComplete) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// catalogRoot is the runtime catalog the caller's host uses, found as
// the host finds it (catalog.DefaultRoot; the CLI does not link the
// catalog package): $BGJOB_RUNTIMES, else $XDG_DATA_HOME/bgjob/runtimes,
// else ~/.local/share/bgjob/runtimes. The system host's is under its
// home.
func catalogRoot() string {
	if r := os.Getenv("BGJOB_RUNTIMES"); r != "" {
		return r
	}
	if systemSocket() != "" {
		return filepath.Join(api.SystemHome, "runtimes")
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "bgjob", "runtimes")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "bgjob", "runtimes")
}

// plugin is one installed build, as its folders and manifest say.
type plugin struct {
	dirName, version, os, arch string // from <name>/<version>/<os>_<arch>
	Kind                       string `json:"kind"`
	JobTypes                   []struct {
		Name string `json:"name"`
	} `json:"jobTypes"`
}

// installedPlugins reads the catalog's folders,
// <root>/<name>/<version>/<os>_<arch>/manifest.json. Builds without a
// manifest (an install in progress) are left out; a manifest that does not
// parse still counts for its folder names. Nothing is verified: this is
// for completion only.
func installedPlugins() []plugin {
	root := catalogRoot()
	var out []plugin
	for _, name := range visibleDirs(root) {
		for _, version := range visibleDirs(filepath.Join(root, name)) {
			for _, platform := range visibleDirs(filepath.Join(root, name, version)) {
				goos, goarch, ok := strings.Cut(platform, "_")
				if !ok {
					continue
				}
				b, err := os.ReadFile(filepath.Join(root, name, version, platform, "manifest.json"))
				if err != nil {
					continue
				}
				var p plugin
				_ = json.Unmarshal(b, &p)
				p.dirName, p.version, p.os, p.arch = name, version, goos, goarch
				out = append(out, p)
			}
		}
	}
	return out
}

// visibleDirs lists dir's sub-folders but dot-folders (staging areas).
func visibleDirs(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// compareVersions orders semantic versions (an optional leading v, build
// metadata ignored): -1, 0 or 1 as a is older than, as old as or newer
// than b. A prerelease is older than its release. Versions that do not
// parse compare as strings.
func compareVersions(a, b string) int {
	ca, pa, okA := splitVersion(a)
	cb, pb, okB := splitVersion(b)
	if !okA || !okB {
		return strings.Compare(a, b)
	}
	for i := range ca {
		if ca[i] != cb[i] {
			return cmpInt(ca[i], cb[i])
		}
	}
	switch {
	case pa == "" && pb == "":
		return 0
	case pa == "":
		return 1
	case pb == "":
		return -1
	}
	fa, fb := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, errA := strconv.Atoi(fa[i])
		nb, errB := strconv.Atoi(fb[i])
		switch {
		case errA == nil && errB == nil:
			if na != nb {
				return cmpInt(na, nb)
			}
		case errA == nil: // numeric identifiers sort first
			return -1
		case errB == nil:
			return 1
		default:
			if c := strings.Compare(fa[i], fb[i]); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(fa), len(fb))
}

func splitVersion(v string) (core [3]int, pre string, ok bool) {
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "+")
	v, pre, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return core, "", false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return core, "", false
		}
		core[i] = n
	}
	return core, pre, true
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
