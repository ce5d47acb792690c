// Package plugins holds bgjob's custom job-type plugins: executables that
// serve job types (a PSJobTypeName other than BackgroundJob) over the same
// protocol as runtimes, sdk/proto/runtimev2, and whose Describe lists the
// types they serve. Each lives in its own package below this one, with its
// main under cmd/.
//
// None ships yet: the ScheduledJob type (stored definitions started with
// `bgjob start --type ScheduledJob --definition-name NAME`) is the first
// planned. Runtimes, which run scripts rather than definitions, live in
// runtimes/.
package plugins
