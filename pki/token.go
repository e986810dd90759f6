package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/zoned-project/zoned/errdefs"
)

// tokenPrefix starts every token, so a token pasted into the wrong field
// is recognised at once.
const tokenPrefix = "zoned1."

// Token is what an enrolment token carries: the daemon's certificate
// fingerprint, which the client pins, and the secret that enrols it.
type Token struct {
	ServerFingerprint string `json:"f"`
	Secret            []byte `json:"s"`
}

// String encodes the token for an operator to hand over.
func (t Token) String() string {
	b, _ := json.Marshal(t)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseToken decodes a token made by String.
func ParseToken(s string) (Token, error) {
	var t Token
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), tokenPrefix)
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if !ok || err != nil || json.Unmarshal(b, &t) != nil || len(t.Secret) != SecretSize || ValidFingerprint(t.ServerFingerprint) != nil {
		return Token{}, fmt.Errorf("not an enrolment token (they start with %q and come from `zonectl trust add`): %w", tokenPrefix, errdefs.ErrInvalid)
	}
	return t, nil
}

// SecretSize is the length of a token's secret.
const SecretSize = 32

// NewSecret makes a token's secret.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretSize)
	_, err := rand.Read(b)
	return b, err
}

// HashSecret is what the daemon keeps of a secret.
func HashSecret(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// enrolURNPrefix starts the URI that carries a token's secret in a
// client certificate's subject alternative names. The client presents
// that certificate in its first handshake, which TLS 1.3 encrypts; the
// daemon spends the token and trusts the certificate in the handshake
// itself, so an unknown certificate never gets further than the TLS
// alert, not even to an enrolment endpoint. (A private extension would
// read better, but an OID of our own needs a registered arc, and Go
// cannot parse the registration-free UUID arcs.)
const enrolURNPrefix = "urn:zoned:enrol:"

// EnrolURI is the subject alternative name that presents t's secret.
func EnrolURI(t Token) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: "zoned:enrol:" + base64.RawURLEncoding.EncodeToString(t.Secret)}
}

// EnrolSecret returns the secret a certificate presents, if any.
func EnrolSecret(c *x509.Certificate) ([]byte, bool) {
	for _, u := range c.URIs {
		rest, ok := strings.CutPrefix(u.String(), enrolURNPrefix)
		if !ok {
			continue
		}
		secret, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil || len(secret) != SecretSize {
			return nil, false
		}
		return secret, true
	}
	return nil, false
}
