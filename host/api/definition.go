package api

import "time"

// OpDefinition is `bgjob definition ...`: the host's stored definitions
// and their triggers.
const OpDefinition = "definition"

// Definition actions.
const (
	DefinitionList    = "list"
	DefinitionShow    = "show"
	DefinitionEnable  = "enable"
	DefinitionDisable = "disable"
	DefinitionReload  = "reload"
)

// DefinitionRequest is one `bgjob definition ACTION [NAME]`. Name may be a
// wildcard pattern; show wants it to match one definition.
type DefinitionRequest struct {
	Action string `json:"action"`
	Name   string `json:"name,omitempty"`
	// Dir is the definition directory the caller means (its
	// BGJOB_DEFINITIONS or the default, absolute): a host that schedules
	// another refuses, naming both, rather than answer about its own.
	// Empty: whichever the host schedules.
	Dir string `json:"dir,omitempty"`
}

// Definition is a stored job definition as the host schedules it.
type Definition struct {
	Type   string `json:"Type"`
	Name   string `json:"Name"`
	Source string `json:"Source"`
	// Enabled is whether its triggers fire: the definition's own setting,
	// unless `bgjob definition enable/disable` said otherwise.
	Enabled  bool       `json:"Enabled"`
	Triggers []string   `json:"Triggers"`
	Next     *time.Time `json:"Next"`
	LastRun  *time.Time `json:"LastRun"`
	Keep     int        `json:"Keep"`
	CatchUp  bool       `json:"CatchUp"`
	// LastError is why its last trigger did not start it; empty once one
	// did (and until one fires).
	LastError string `json:"LastError,omitempty"`

	Runtime        string   `json:"Runtime,omitempty"`
	RuntimeVersion string   `json:"RuntimeVersion,omitempty"`
	RunAs32        bool     `json:"RunAs32,omitempty"`
	Workdir        string   `json:"Workdir,omitempty"`
	Command        string   `json:"Command"`
	Script         string   `json:"Script,omitempty"`
	Args           []string `json:"Args,omitempty"`
	Env            []string `json:"Env,omitempty"`
}

// Definitions is the answer to a definition request: the definitions in
// the host's definition directory and what could not be read there.
type Definitions struct {
	Dir         string       `json:"Dir"`
	Definitions []Definition `json:"Definitions"`
	Problems    []string     `json:"Problems"`
}
