// Package validate checks the names operators give to zones, templates and
// other objects. A name becomes a directory, a cgroup and part of link names,
// so it must be a DNS label: nothing in it can climb out of a directory or
// collide with the host's own objects.
package validate

import (
	"fmt"

	"github.com/zoned-project/zoned/errdefs"
)

// MaxNameLength keeps names short enough to build interface names
// ("zv" + name + index must fit IFNAMSIZ after hashing) and paths.
const MaxNameLength = 63

// Name reports whether name is a valid object name of the given kind
// ("zone", "template"): 1-63 characters of lower-case letters, digits and
// hyphens, starting with a letter and not ending with a hyphen (RFC 1123
// label rules, stricter on the first character so a name is never a number).
func Name(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty: %w", kind, errdefs.ErrInvalid)
	}
	if len(name) > MaxNameLength {
		return fmt.Errorf("%s name %q is %d characters long, more than %d: %w", kind, name, len(name), MaxNameLength, errdefs.ErrInvalid)
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9', c == '-':
			if i == 0 {
				return fmt.Errorf("%s name %q must start with a lower-case letter: %w", kind, name, errdefs.ErrInvalid)
			}
		default:
			return fmt.Errorf("%s name %q has %q; use lower-case letters, digits and '-': %w", kind, name, c, errdefs.ErrInvalid)
		}
	}
	if name[len(name)-1] == '-' {
		return fmt.Errorf("%s name %q must not end with '-': %w", kind, name, errdefs.ErrInvalid)
	}
	return nil
}

// Hostname checks a zone's hostname: dot-separated labels of letters,
// digits and hyphens, 253 characters at most.
func Hostname(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("hostname %q must be 1-253 characters: %w", h, errdefs.ErrInvalid)
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 || h[i-1] == '-' {
				return fmt.Errorf("hostname %q has an empty label or a label ending with '-': %w", h, errdefs.ErrInvalid)
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-':
			if label == 0 {
				return fmt.Errorf("hostname %q has a label starting with '-': %w", h, errdefs.ErrInvalid)
			}
		default:
			return fmt.Errorf("hostname %q has %q; use letters, digits, '-' and '.': %w", h, c, errdefs.ErrInvalid)
		}
		label++
		if label > 63 {
			return fmt.Errorf("hostname %q has a label longer than 63 characters: %w", h, errdefs.ErrInvalid)
		}
	}
	if label == 0 || h[len(h)-1] == '-' {
		return fmt.Errorf("hostname %q must not end with '.' or '-': %w", h, errdefs.ErrInvalid)
	}
	return nil
}
