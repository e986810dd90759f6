// Package errdefs holds the few sentinel errors that classify every failure
// in zoned. Packages wrap them with context (fmt.Errorf("create zone %q: %w",
// name, errdefs.ErrConflict)); only the API edge turns the class into an HTTP
// status and a stable error code, so the core never thinks in HTTP.
package errdefs

import "errors"

var (
	// ErrInvalid: the request itself is wrong (bad name, bad value). 400.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound: the named object does not exist. 404.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: an object with that name exists already. 409.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the object is in a state that forbids the call
	// (destroy a running zone without force, delete a template in use). 409.
	ErrConflict = errors.New("conflict")
	// ErrUnsupported: this host's kernel or filesystem cannot do it. 501.
	ErrUnsupported = errors.New("not supported on this host")
	// ErrUnavailable: a transient condition; the call may succeed later. 503.
	ErrUnavailable = errors.New("unavailable")
	// ErrPrecondition: the caller made the call conditional (If-Match) and
	// the object has changed since the caller read it. 412.
	ErrPrecondition = errors.New("precondition failed")
	// ErrNoSpace: the disk (or the inode table, or a quota) the call had
	// to write to is full. 507. Errors carrying ENOSPC or EDQUOT from any
	// layer are in this class without being wrapped in it (IsNoSpace).
	ErrNoSpace = errors.New("insufficient storage")
	// ErrPermission: the caller is known but its scope does not allow the
	// call (a read-only client that writes, a reseller's panel asking for
	// a host-wide change). 403. What a scope hides is ErrNotFound, never
	// this: a client learns nothing of what it may not see.
	ErrPermission = errors.New("permission denied")
)

// Code returns the stable wire code of err's class ("internal" when none).
func Code(err error) string {
	switch {
	// First: a write that ran out of space is that, whatever class a
	// layer put it in on the way up (an import whose extraction failed
	// is not a bad archive because the disk is full).
	case IsNoSpace(err):
		return "insufficient_storage"
	case errors.Is(err, ErrInvalid):
		return "invalid_argument"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrAlreadyExists):
		return "already_exists"
	case errors.Is(err, ErrConflict):
		return "conflict"
	case errors.Is(err, ErrUnsupported):
		return "unsupported"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrPrecondition):
		return "precondition_failed"
	case errors.Is(err, ErrPermission):
		return "permission_denied"
	}
	return "internal"
}

// FromCode maps a wire code back to its sentinel, so that client callers can
// use errors.Is on errors that crossed the socket. Unknown codes give nil.
func FromCode(code string) error {
	switch code {
	case "invalid_argument":
		return ErrInvalid
	case "not_found":
		return ErrNotFound
	case "already_exists":
		return ErrAlreadyExists
	case "conflict":
		return ErrConflict
	case "unsupported":
		return ErrUnsupported
	case "unavailable":
		return ErrUnavailable
	case "precondition_failed":
		return ErrPrecondition
	case "insufficient_storage":
		return ErrNoSpace
	case "permission_denied":
		return ErrPermission
	}
	return nil
}

// fieldError remembers which request field an error is about, so the API
// edge can name it in the answer's "field".
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// WithField marks err as being about the request field named field
// ("resources.memory_bytes"). It returns nil for a nil err.
func WithField(field string, err error) error {
	if err == nil {
		return nil
	}
	return &fieldError{field: field, err: err}
}

// Field returns the field err is about, or "".
func Field(err error) string {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.field
	}
	return ""
}
