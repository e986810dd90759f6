package client

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/pki"
)

// DefaultHTTPSPort is the port of an https:// URL that names none.
const DefaultHTTPSPort = "8443"

// remote is a daemon reached over HTTPS with mutual TLS.
type remote struct {
	url     string
	address string // host:port
	tls     *tls.Config
}

// NewRemote returns a client for the daemon at rawURL (https://host:port)
// that presents the client certificate certPEM with its key keyPEM and
// accepts only a server whose certificate has serverFingerprint ("sha256:
// …", as `zonectl info` shows it): the daemon's certificate is pinned, no
// authority is asked. It does not connect yet.
func NewRemote(rawURL string, certPEM, keyPEM []byte, serverFingerprint string) (*Client, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client key pair: %v: %w", err, errdefs.ErrInvalid)
	}
	return newRemote(rawURL, cert, serverFingerprint)
}

func newRemote(rawURL string, cert tls.Certificate, serverFingerprint string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("remote URL %q is not https://HOST[:PORT]: %w", rawURL, errdefs.ErrInvalid)
	}
	if err := pki.ValidFingerprint(serverFingerprint); err != nil {
		return nil, err
	}
	address := u.Host
	if u.Port() == "" {
		address = net.JoinHostPort(u.Hostname(), DefaultHTTPSPort)
	}
	r := &remote{url: "https://" + address, address: address, tls: &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// No authority vouches for the daemon: its certificate is
		// pinned by fingerprint below instead of chained to a root.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			if got := pki.Fingerprint(cs.PeerCertificates[0].Raw); got != serverFingerprint {
				return fmt.Errorf("the server's certificate is %s, not the pinned %s: not the daemon this remote was added for", got, serverFingerprint)
			}
			return nil
		},
	}}
	c := &Client{socket: r.url, remote: r, UserAgent: "zoned-client/" + api.Version}
	c.init()
	return c, nil
}

func (r *remote) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", r.address)
	if err != nil {
		return nil, &ConnectError{Socket: r.url, Err: err}
	}
	conn := tls.Client(raw, r.tls)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &ConnectError{Socket: r.url, Err: err}
	}
	return conn, nil
}

// clientCertLife is the life of a client certificate Enrol makes.
const clientCertLife = 10 * 365 * 24 * time.Hour

// Enrol makes this client known to the daemon at rawURL with a one-time
// token from `zonectl trust add` (or POST /v1/trust/tokens): it makes a
// certificate for key (name is its common name) that presents the
// token, connects once, which spends the token, and returns the
// certificate (PEM) and a client for the daemon, pinned to the
// fingerprint the token carries.
func Enrol(ctx context.Context, rawURL, token string, key crypto.Signer, name string) (certPEM []byte, c *Client, err error) {
	tok, err := pki.ParseToken(token)
	if err != nil {
		return nil, nil, err
	}
	der, err := pki.SelfSigned(key, pki.Options{CommonName: name, ValidFor: clientCertLife, URIs: []*url.URL{pki.EnrolURI(tok)}})
	if err != nil {
		return nil, nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	c, err = newRemote(rawURL, cert, tok.ServerFingerprint)
	if err != nil {
		return nil, nil, err
	}
	// TLS 1.3 tells a client its certificate was refused only when it
	// reads: a call is the proof the enrolment took.
	if _, err := c.Info(ctx); err != nil {
		return nil, nil, fmt.Errorf("enrol at %s: the daemon refused the token (spent, expired or revoked?) or cannot be reached: %w", rawURL, err)
	}
	return pki.EncodeCert(der), c, nil
}

// ParseKey reads a PEM private key (PKCS #8, as pki.EncodeKey writes).
func ParseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("no PEM key: %w", errdefs.ErrInvalid)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %v: %w", err, errdefs.ErrInvalid)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign: %w", k, errdefs.ErrInvalid)
	}
	return s, nil
}
