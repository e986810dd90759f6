package pki

import (
	"errors"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestParseTokenRefusesGarbage(t *testing.T) {
	for _, s := range []string{"", "zoned1.", "zoned1.!!!", "abc", Token{ServerFingerprint: "sha256:00", Secret: make([]byte, SecretSize)}.String()} {
		if _, err := ParseToken(s); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ParseToken(%q): %v, want ErrInvalid", s, err)
		}
	}
}
