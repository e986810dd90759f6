// Package trust decides who may use zoned's HTTPS API: the clients whose
// certificates the daemon's trust store holds (store.TrustedClient), and
// the one-time tokens that enrol new ones. It checks every TLS handshake
// (an unknown, expired, revoked or untrusted self-signed certificate gets
// the TLS alert and nothing else), tracks each client's connections so
// that removing a client cuts them at once, streams included, and makes
// the TLS configuration of the daemon's listener.
package trust

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/pki"
	"github.com/zoned-project/zoned/store"
)

// DefaultTokenLife is how long a token enrols when no life is asked for.
const DefaultTokenLife = time.Hour

// MaxTokenLife bounds a token's life: a token is a password until spent.
const MaxTokenLife = 7 * 24 * time.Hour

// MaxConnsPerClient bounds one client's open connections: a panel with a
// leak, or a stolen key, cannot take every descriptor of the daemon from
// the others. A panel needs a few, plus one per open stream.
const MaxConnsPerClient = 256

// Authority is the daemon's trust: its server certificate and its trust
// store. It is safe for concurrent use.
type Authority struct {
	st     *store.Store
	server *pki.Pair
	log    *slog.Logger
	now    func() time.Time
	// maxConns is MaxConnsPerClient (smaller in tests).
	maxConns int

	mu sync.Mutex
	// byFingerprint caches the trust store for handshakes.
	byFingerprint map[string]*store.TrustedClient
	// conns are each client's open connections, by fingerprint.
	conns map[string]map[*trackedConn]struct{}
	// lastRefusal and quietRefusals rate-limit the log of refused
	// handshakes (refused).
	lastRefusal   time.Time
	quietRefusals int
}

// refused logs a refused handshake, at most one line a second: a flood
// of strangers' handshakes must not flood the log as well. The next line
// says how many were not logged.
func (a *Authority) refused(msg string, attrs ...any) {
	a.mu.Lock()
	now := a.now()
	if now.Sub(a.lastRefusal) < time.Second {
		a.quietRefusals++
		a.mu.Unlock()
		return
	}
	quiet := a.quietRefusals
	a.lastRefusal, a.quietRefusals = now, 0
	a.mu.Unlock()
	if quiet > 0 {
		attrs = append(attrs, "refused_unlogged", quiet)
	}
	a.log.Info(msg, attrs...)
}

// New loads the trust store of st for the daemon whose certificate is
// server.
func New(st *store.Store, server *pki.Pair, log *slog.Logger) (*Authority, error) {
	a := &Authority{st: st, server: server, log: log, now: time.Now, maxConns: MaxConnsPerClient, conns: map[string]map[*trackedConn]struct{}{}}
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// ServerFingerprint is the fingerprint clients pin.
func (a *Authority) ServerFingerprint() string { return a.server.Fingerprint }

func (a *Authority) reload() error {
	cs, err := a.st.ListClients()
	if err != nil {
		return fmt.Errorf("load trust store: %w", err)
	}
	m := make(map[string]*store.TrustedClient, len(cs))
	for _, c := range cs {
		m[c.Fingerprint] = c
	}
	a.mu.Lock()
	a.byFingerprint = m
	a.mu.Unlock()
	return nil
}

// Client returns the trusted client whose certificate has fingerprint
// fp, or nil.
func (a *Authority) Client(fp string) *store.TrustedClient {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byFingerprint[fp]
}

// NewToken makes a one-time token that enrols a client as name with
// scope, valid for life (0: DefaultTokenLife). The token's secret is
// returned here once and stored only as its hash.
func (a *Authority) NewToken(name string, scope store.Scope, life time.Duration) (pki.Token, time.Time, error) {
	if err := validate.Name("client", name); err != nil {
		return pki.Token{}, time.Time{}, errdefs.WithField("name", err)
	}
	if life == 0 {
		life = DefaultTokenLife
	}
	if life < 0 || life > MaxTokenLife {
		return pki.Token{}, time.Time{}, errdefs.WithField("expires", fmt.Errorf("a token lives between a second and %s, not %s: %w", MaxTokenLife, life, errdefs.ErrInvalid))
	}
	secret, err := pki.NewSecret()
	if err != nil {
		return pki.Token{}, time.Time{}, err
	}
	now := a.now().UTC()
	t := &store.EnrolToken{Hash: pki.HashSecret(secret), Name: name, Scope: scope, CreatedAt: now, ExpiresAt: now.Add(life)}
	if err := a.st.AddToken(t); err != nil {
		return pki.Token{}, time.Time{}, err
	}
	return pki.Token{ServerFingerprint: a.server.Fingerprint, Secret: secret}, t.ExpiresAt, nil
}

// AddCertificate trusts a PEM certificate as name (automation that makes
// its own key pairs, without a token).
func (a *Authority) AddCertificate(name string, certPEM []byte, scope store.Scope) (*store.TrustedClient, error) {
	if err := validate.Name("client", name); err != nil {
		return nil, errdefs.WithField("name", err)
	}
	cert, err := pki.ParseCert(certPEM)
	if err != nil {
		return nil, errdefs.WithField("certificate", err)
	}
	if now := a.now(); now.After(cert.NotAfter) {
		return nil, errdefs.WithField("certificate", fmt.Errorf("certificate expired on %s: %w", cert.NotAfter.Format(time.RFC3339), errdefs.ErrInvalid))
	}
	c := &store.TrustedClient{Name: name, Fingerprint: pki.Fingerprint(cert.Raw), CertPEM: pki.EncodeCert(cert.Raw), Scope: scope, AddedAt: a.now().UTC(), ExpiresAt: cert.NotAfter.UTC()}
	if err := a.st.AddClient(c); err != nil {
		return nil, err
	}
	if err := a.reload(); err != nil {
		return nil, err
	}
	a.log.Info("trusted client added", "client", name, "fingerprint", c.Fingerprint)
	return c, nil
}

// Remove forgets client name and cuts its open connections and streams.
func (a *Authority) Remove(name string) error {
	var fp string
	cs, err := a.st.ListClients()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Name == name {
			fp = c.Fingerprint
		}
	}
	if err := a.st.DeleteClient(name); err != nil {
		return err
	}
	if err := a.reload(); err != nil {
		return err
	}
	a.mu.Lock()
	open := a.conns[fp]
	delete(a.conns, fp)
	a.mu.Unlock()
	for c := range open {
		_ = c.Conn.Close()
	}
	a.log.Info("trusted client removed", "client", name, "fingerprint", fp, "connections_cut", len(open))
	return nil
}

// errUntrusted is all a refused handshake learns.
var errUntrusted = errors.New("client certificate not trusted")

// verify checks the client certificate of a handshake: trusted and
// within its validity, or presenting a token that enrols it now.
//
// Go's TLS server asks this before it checks the client's
// CertificateVerify, the proof that the client holds the certificate's
// key; a handshake without that proof still fails after it. Spending a
// token here is still safe: whoever could present someone's enrolment
// certificate already holds the token it carries, and enrolling that
// certificate gives them nothing, since its key is not theirs.
func (a *Authority) verify(cs tls.ConnectionState, conn *trackedConn) error {
	if len(cs.PeerCertificates) == 0 {
		return errUntrusted
	}
	leaf := cs.PeerCertificates[0]
	now := a.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		a.refused("TLS client refused: certificate out of its validity", "remote", conn.RemoteAddr().String(), "fingerprint", pki.Fingerprint(leaf.Raw))
		return errUntrusted
	}
	fp := pki.Fingerprint(leaf.Raw)
	if a.Client(fp) == nil {
		secret, ok := pki.EnrolSecret(leaf)
		if !ok {
			a.refused("TLS client refused: unknown certificate", "remote", conn.RemoteAddr().String(), "fingerprint", fp)
			return errUntrusted
		}
		c, err := a.st.Enrol(pki.HashSecret(secret), &store.TrustedClient{Fingerprint: fp, CertPEM: pki.EncodeCert(leaf.Raw), ExpiresAt: leaf.NotAfter.UTC()}, now.UTC())
		if err != nil {
			// Never the token: only that one was refused.
			a.refused("TLS client refused: enrolment token unknown, spent or expired", "remote", conn.RemoteAddr().String(), "fingerprint", fp, "err", errdefs.Code(err))
			return errUntrusted
		}
		if err := a.reload(); err != nil {
			return err
		}
		a.log.Info("trusted client enrolled", "client", c.Name, "fingerprint", fp, "remote", conn.RemoteAddr().String())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byFingerprint[fp] == nil {
		return errUntrusted // removed while it shook hands
	}
	set := a.conns[fp]
	if len(set) >= a.maxConns {
		a.log.Warn("TLS client refused: too many connections", "client", a.byFingerprint[fp].Name, "fingerprint", fp, "connections", len(set))
		return errUntrusted
	}
	conn.fingerprint = fp
	if set == nil {
		set = map[*trackedConn]struct{}{}
		a.conns[fp] = set
	}
	set[conn] = struct{}{}
	return nil
}

func (a *Authority) untrack(c *trackedConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if set := a.conns[c.fingerprint]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(a.conns, c.fingerprint)
		}
	}
}

// Connections counts a client's open connections (for limits and tests).
func (a *Authority) Connections(fp string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns[fp])
}

// Listener serves TLS 1.3 on inner with client certificates checked
// against the trust store. Each accepted connection is tracked until it
// closes, so Remove can cut it, hijacked streams too.
func (a *Authority) Listener(inner net.Listener) net.Listener {
	base := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{a.server.TLS},
		// Any certificate may be offered; verify decides by
		// fingerprint, since there is no authority to chain to.
		ClientAuth: tls.RequireAnyClientCert,
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		tc, _ := hello.Conn.(*trackedConn)
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if tc == nil {
				return errUntrusted
			}
			return a.verify(cs, tc)
		}
		return cfg, nil
	}
	return tls.NewListener(&trackingListener{Listener: inner, a: a}, base)
}

type trackingListener struct {
	net.Listener
	a *Authority
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c, a: l.a}, nil
}

// trackedConn is a raw connection under TLS, known to the Authority from
// its handshake until it closes.
type trackedConn struct {
	net.Conn
	a           *Authority
	fingerprint string
	once        sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.a.untrack(c) })
	return c.Conn.Close()
}

// Clients lists the trusted clients, sorted by name.
func (a *Authority) Clients() ([]*store.TrustedClient, error) { return a.st.ListClients() }

// ClientNamed returns the trusted client name, or ErrNotFound.
func (a *Authority) ClientNamed(name string) (*store.TrustedClient, error) {
	cs, err := a.st.ListClients()
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("client %q: %w", name, errdefs.ErrNotFound)
}

// Tokens lists the pending tokens that have not expired.
func (a *Authority) Tokens() ([]*store.EnrolToken, error) {
	ts, err := a.st.ListTokens()
	if err != nil {
		return nil, err
	}
	now := a.now()
	out := ts[:0]
	for _, t := range ts {
		if now.Before(t.ExpiresAt) {
			out = append(out, t)
		}
	}
	return out, nil
}

// RevokeToken deletes client name's pending token.
func (a *Authority) RevokeToken(name string) error { return a.st.DeleteToken(name) }
