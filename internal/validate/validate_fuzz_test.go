package validate

import (
	"errors"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

var nameSeeds = []string{"web1", "a", "", "-a", "a-", "Web1", "..", "a/b", "a..b", "x.y", "a\x00b", "ä", strings.Repeat("a", 64)}

// FuzzName: a name becomes a directory, a cgroup and part of link names,
// so an accepted name never holds a path separator, "..", a dot at all,
// upper case, or anything outside [a-z0-9-], and every refusal is
// ErrInvalid.
func FuzzName(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := Name("zone", name)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("Name(%q) = %v, not ErrInvalid", name, err)
			}
			return
		}
		if name == "" || len(name) > MaxNameLength || strings.ContainsAny(name, "/.") || strings.ToLower(name) != name {
			t.Errorf("Name accepted %q", name)
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Errorf("Name accepted %q with %q", name, c)
			}
		}
	})
}

// FuzzHostname: an accepted hostname has no "..", no "/", no empty label
// and only letters, digits, '-' and '.'. Upper case is allowed: host
// names are case-insensitive (RFC 4343) and the kernel keeps them as given.
func FuzzHostname(f *testing.F) {
	for _, s := range append(nameSeeds, "web1.example.com", "a.", ".a", "a..b", "a-.b") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		err := Hostname(h)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("Hostname(%q) = %v, not ErrInvalid", h, err)
			}
			return
		}
		if h == "" || len(h) > 253 || strings.Contains(h, "..") || strings.Contains(h, "/") || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") {
			t.Errorf("Hostname accepted %q", h)
		}
		for _, c := range h {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				t.Errorf("Hostname accepted %q with %q", h, c)
			}
		}
	})
}
