// Package admit turns a start or restart request into a plan: which
// runtime runs the job (resolved with semver from the catalog and
// verified), what its runtime process receives, and how the job is shown.
// Everything that can be wrong with a request is found here, before a job
// exists; the catalog's errors get one kind each (CatalogKind), whichever
// command met them.
package admit
