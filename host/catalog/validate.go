package catalog

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk"
)

// The name and version of a plugin become folder names, and they come from
// the plugin itself, so they are held to a conservative alphabet: no path
// separators, no leading dot (which would also hide them from List), nothing
// that a shell or Windows would treat specially.
var componentRE = regexp.MustCompile(`^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}$`)

// GOOS and GOARCH values are lowercase letters and digits; requiring that
// keeps the "<os>_<arch>" folder name unambiguous.
var platformRE = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

// check validates the fields a plugin reports about itself and returns the
// parsed version. The error describes the first problem found, phrased so it
// can follow "the describe answer is unusable: ".
func (m *Manifest) check() (*semver.Version, error) {
	if m.Name == "" {
		return nil, fmt.Errorf("name is empty")
	}
	if !componentRE.MatchString(m.Name) {
		return nil, fmt.Errorf("name %q cannot be used as a folder name (use letters, digits, '.', '_', '-' or '+', not starting with '.')", m.Name)
	}
	if m.Version == "" {
		return nil, fmt.Errorf("version is empty")
	}
	v, err := semver.NewVersion(m.Version)
	if err != nil {
		return nil, fmt.Errorf("version %q is not a semantic version: %w", m.Version, err)
	}
	if !componentRE.MatchString(m.Version) {
		return nil, fmt.Errorf("version %q cannot be used as a folder name", m.Version)
	}
	if !platformRE.MatchString(m.OS) {
		return nil, fmt.Errorf("os %q is not a Go GOOS value such as \"linux\"", m.OS)
	}
	if !platformRE.MatchString(m.Arch) {
		return nil, fmt.Errorf("arch %q is not a Go GOARCH value such as \"amd64\"", m.Arch)
	}
	if _, ok := protocol.Best(m.ServedProtocols()); !ok {
		return nil, fmt.Errorf("protocol %s is not supported (this bgjob speaks %s)", intList(m.ServedProtocols()), protocolList())
	}
	if len(m.Protocols) > 0 && !slices.Contains(m.Protocols, m.Protocol) {
		return nil, fmt.Errorf("protocol %d is not among the protocols %s it says it serves", m.Protocol, intList(m.Protocols))
	}
	if m.Kind != "" && m.Kind != sdk.KindRuntime && m.Kind != sdk.KindJobType {
		return nil, fmt.Errorf("kind %q is neither \"runtime\" nor \"jobtype\"", m.Kind)
	}
	seen := map[string]bool{}
	for _, t := range m.JobTypes {
		if err := sdk.CheckTypeName(t.Name); err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("the job type %s is listed twice", t.Name)
		}
		seen[t.Name] = true
	}
	if len(m.JobTypes) > 0 && !slices.Contains(m.ServedProtocols(), 2) {
		return nil, fmt.Errorf("it serves job types but not protocol 2, which job types need")
	}
	return v, nil
}

// checkFileName accepts a binary file name that stays inside its folder and
// cannot be confused with the manifest or a staging file. It is looser than
// componentRE because it is the user's own file name, which may contain
// spaces.
func checkFileName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("file name is empty")
	case name[0] == '.':
		return fmt.Errorf("file name %q starts with '.'", name)
	case strings.ContainsAny(name, "/\\:\x00"):
		return fmt.Errorf("file name %q contains a path separator, ':' or NUL", name)
	case strings.EqualFold(name, manifestFile):
		return fmt.Errorf("file name %q is reserved for the manifest", name)
	case len(name) > 255:
		return fmt.Errorf("file name is longer than 255 bytes")
	}
	return nil
}

// checkSHA256 accepts a hex SHA-256, so that a damaged manifest is reported
// as such rather than as a tampered binary.
func checkSHA256(s string) error {
	if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
		return fmt.Errorf("sha256 %q is not 64 hexadecimal digits", s)
	}
	return nil
}

// protocolList names the protocols the host speaks, for messages.
func protocolList() string {
	vs := protocol.Versions()
	if len(vs) == 1 {
		return "protocol " + intList(vs)
	}
	return "protocols " + intList(vs[:len(vs)-1]) + " and " + intList(vs[len(vs)-1:])
}

func intList(vs []int) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = fmt.Sprint(v)
	}
	return strings.Join(names, ", ")
}
