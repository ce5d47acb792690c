package safepath

import "io/fs"

// Kind names what a file that is not a regular one is, for messages ("the
// script file x is a named pipe, not a regular file"): the catalog and
// admission both refuse such files, and say so in the same words.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
