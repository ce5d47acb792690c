package records

import "github.com/bgjob/bgjob/host/internal/errkind"

func errorf(kind error, format string, args ...any) error {
	return errkind.Errorf(kind, format, args...)
}
