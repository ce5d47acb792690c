// Package plugins holds bgjob's custom job-type plugins: executables that
// serve job types (a PSJobTypeName other than BackgroundJob) through the
// sdk package, over the same protocol as runtimes (sdk/proto/runtimev2),
// and whose description lists the types they serve and what each does.
// Each lives in its own package below this one, built only on sdk, with
// its main under cmd/:
//
//   - scheduled (cmd/bgjob-scheduled): ScheduledJob, stored definitions
//     in HCL whose triggers the host fires; its jobs run in a runtime.
//   - filecopy (cmd/bgjob-copy): Copy, which copies a file tree with live
//     progress, verification and resume; the example of docs/plugins.md.
//
// Runtimes, which run scripts rather than typed jobs, live in runtimes/.
package plugins
