// Package records takes a job's records to whoever receives them: from
// the job's record log, or, for a draining receive that has read all of
// it, straight from the relay (HandOff), which keeps the common
// `start --wait` from writing all output to disk only to read it back.
// A receive moves the job's read offset only past what its sink has
// passed on, so a caller gone midway gets the rest next time.
package records
