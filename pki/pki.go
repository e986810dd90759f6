// Package pki makes and reads the key pairs and certificates of zoned's
// HTTPS API: the daemon's server certificate, made on first start and
// kept in its data directory, and the client certificates zonectl and
// control panels present. There is no certificate authority: each side
// pins the other's certificate by its fingerprint (the server through its
// trust store, the client through the fingerprint an enrolment token
// carries), so nothing else can vouch for anybody.
//
// The package is portable: zonectl uses it on any OS.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/atomicfile"
)

// Fingerprint names a certificate: "sha256:" and the hex SHA-256 of its
// DER bytes, as `openssl x509 -fingerprint -sha256` shows it without the
// colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ValidFingerprint checks that fp is a fingerprint as Fingerprint makes
// them, so a typo is refused before it pins anything.
func ValidFingerprint(fp string) error {
	h, ok := strings.CutPrefix(fp, "sha256:")
	if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != sha256.Size {
		return fmt.Errorf("fingerprint %q is not sha256: and 64 hex digits: %w", fp, errdefs.ErrInvalid)
	}
	return nil
}

// Options describe a certificate to make.
type Options struct {
	// CommonName names the holder (a host, a client's name).
	CommonName string
	// DNSNames and IPs are what a server answers as.
	DNSNames []string
	IPs      []net.IP
	// Server makes a server certificate, else a client one.
	Server bool
	// ValidFor is the certificate's life from now.
	ValidFor time.Duration
	// URIs are subject alternative names (an enrolment token's).
	URIs []*url.URL
}

// NewKey makes a key pair: ECDSA P-256, what every TLS 1.3 stack takes
// and the fastest to handshake with.
func NewKey() (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// SelfSigned makes a certificate for key, signed by itself.
func SelfSigned(key crypto.Signer, o Options) (der []byte, err error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.CommonName, Organization: []string{"zoned"}},
		NotBefore:    now.Add(-5 * time.Minute), // a little clock skew
		NotAfter:     now.Add(o.ValidFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
		URIs:         o.URIs,
	}
	if o.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("make certificate for %q: %w", o.CommonName, err)
	}
	return der, nil
}

// EncodeCert and EncodeKey are the PEM forms written to files.
func EncodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func EncodeKey(key crypto.Signer) ([]byte, error) {
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}), nil
}

// ParseCert reads one PEM certificate.
func ParseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate: %w", errdefs.ErrInvalid)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %v: %w", err, errdefs.ErrInvalid)
	}
	return c, nil
}

// Pair is a certificate with its key, loaded for TLS.
type Pair struct {
	TLS  tls.Certificate
	Cert *x509.Certificate
	// Fingerprint is Cert's.
	Fingerprint string
}

// Load reads a pair from PEM files.
func Load(certPath, keyPath string) (*Pair, error) {
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load key pair %s, %s: %w", certPath, keyPath, err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", certPath, err)
	}
	c.Leaf = leaf
	return &Pair{TLS: c, Cert: leaf, Fingerprint: Fingerprint(leaf.Raw)}, nil
}

// LoadOrCreate loads the pair at certPath and keyPath, or makes and writes
// one from o when neither file exists (the key 0600, written before the
// certificate, both atomically: a crash leaves no certificate without
// its key). One file without the other is an error: guessing would
// replace an identity that clients have pinned.
func LoadOrCreate(certPath, keyPath string, o Options) (*Pair, error) {
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return Load(certPath, keyPath)
	case !errors.Is(certErr, os.ErrNotExist) || !errors.Is(keyErr, os.ErrNotExist):
		return nil, fmt.Errorf("%s and %s must both exist or both be missing (remove the other to make a new pair, which clients must trust again)", certPath, keyPath)
	}
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	der, err := SelfSigned(key, o)
	if err != nil {
		return nil, err
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", keyPath, err)
	}
	if err := atomicfile.WriteFile(certPath, EncodeCert(der), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", certPath, err)
	}
	return Load(certPath, keyPath)
}
