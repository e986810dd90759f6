package trust

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/pki"
	"github.com/zoned-project/zoned/store"
)

// testServer is an Authority behind a real TLS listener on loopback that
// echoes one line per connection.
type testServer struct {
	a    *Authority
	addr string
	logs *syncBuffer
}

// syncBuffer is a log the server's goroutines write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := pki.LoadOrCreate(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), pki.Options{CommonName: "host1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuffer)
	a, err := New(st, srv, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := a.Listener(inner)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return &testServer{a: a, addr: inner.Addr().String(), logs: logs}
}

// clientCert makes a client certificate, presenting tok when given.
func clientCert(t *testing.T, tok *pki.Token, validFor time.Duration) tls.Certificate {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	o := pki.Options{CommonName: "panel", ValidFor: validFor}
	if tok != nil {
		o.URIs = []*url.URL{pki.EnrolURI(*tok)}
	}
	der, err := pki.SelfSigned(key, o)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// dial shakes hands and round-trips a byte; TLS 1.3 reports a refused
// client certificate on the first read.
func (s *testServer) dial(t *testing.T, cert tls.Certificate) (net.Conn, error) {
	t.Helper()
	c, err := tls.Dial("tcp", s.addr, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // pinned below, as the client package does
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := pki.Fingerprint(cs.PeerCertificates[0].Raw); got != s.a.ServerFingerprint() {
				return errors.New("server fingerprint " + got)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func TestTokenEnrolsOnceAndCertStaysTrusted(t *testing.T) {
	s := newTestServer(t)
	tok, _, err := s.a.NewToken("panel1", store.Scope{ReadOnly: true}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := pki.ParseToken(tok.String())
	if err != nil || parsed.ServerFingerprint != s.a.ServerFingerprint() {
		t.Fatalf("token round trip: %+v, %v", parsed, err)
	}
	cert := clientCert(t, &parsed, time.Hour)
	c, err := s.dial(t, cert)
	if err != nil {
		t.Fatalf("enrolling handshake: %v", err)
	}
	c.Close()
	fp := pki.Fingerprint(cert.Certificate[0])
	got := s.a.Client(fp)
	if got == nil || got.Name != "panel1" || !got.Scope.ReadOnly {
		t.Fatalf("after enrolment: %+v", got)
	}
	// The same certificate needs no token now (its spent one is
	// harmless), and the token enrols no other certificate.
	c, err = s.dial(t, cert)
	if err != nil {
		t.Fatalf("trusted handshake: %v", err)
	}
	c.Close()
	if _, err := s.dial(t, clientCert(t, &parsed, time.Hour)); err == nil {
		t.Fatal("a spent token enrolled a second certificate")
	}
	if strings.Contains(s.logs.String(), tok.String()) || strings.Contains(s.logs.String(), strings.TrimPrefix(pki.EnrolURI(parsed).String(), "urn:zoned:enrol:")) {
		t.Errorf("the log holds the token:\n%s", s.logs)
	}
}

func TestUntrustedCertificatesGetOnlyTheAlert(t *testing.T) {
	s := newTestServer(t)
	expiredTok, _, err := s.a.NewToken("late", store.Scope{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.a.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	cases := map[string]tls.Certificate{
		"unknown self-signed": clientCert(t, nil, time.Hour),
		"expired token":       clientCert(t, &expiredTok, time.Hour),
		"forged token":        clientCert(t, &pki.Token{ServerFingerprint: s.a.ServerFingerprint(), Secret: make([]byte, pki.SecretSize)}, time.Hour),
	}
	for name, cert := range cases {
		if c, err := s.dial(t, cert); err == nil {
			c.Close()
			t.Errorf("%s: handshake accepted", name)
		}
	}
	s.a.now = time.Now
	// A trusted certificate past its end is refused too.
	short := clientCert(t, nil, time.Second)
	if _, err := s.a.AddCertificate("short", pki.EncodeCert(short.Certificate[0]), store.Scope{}); err != nil {
		t.Fatal(err)
	}
	s.a.now = func() time.Time { return time.Now().Add(time.Hour) }
	if c, err := s.dial(t, short); err == nil {
		c.Close()
		t.Error("expired trusted certificate accepted")
	}
	if cs, _ := s.a.st.ListClients(); len(cs) != 1 {
		t.Errorf("refused handshakes changed the trust store: %+v", cs)
	}
}

func TestRemoveCutsOpenConnections(t *testing.T) {
	s := newTestServer(t)
	cert := clientCert(t, nil, time.Hour)
	if _, err := s.a.AddCertificate("ops", pki.EncodeCert(cert.Certificate[0]), store.Scope{}); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 3 {
		c, err := s.dial(t, cert)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	fp := pki.Fingerprint(cert.Certificate[0])
	if n := s.a.Connections(fp); n != 3 {
		t.Fatalf("%d tracked connections, want 3", n)
	}
	if err := s.a.Remove("ops"); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("y"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
			t.Errorf("connection %d still answers after its client was removed", i)
		}
	}
	if _, err := s.dial(t, cert); err == nil {
		t.Error("removed client shook hands again")
	}
	if err := s.a.Remove("ops"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
}

func TestConnectionsPerClientAreBounded(t *testing.T) {
	s := newTestServer(t)
	s.a.maxConns = 2
	cert := clientCert(t, nil, time.Hour)
	if _, err := s.a.AddCertificate("busy", pki.EncodeCert(cert.Certificate[0]), store.Scope{}); err != nil {
		t.Fatal(err)
	}
	var open []net.Conn
	for range 2 {
		c, err := s.dial(t, cert)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	if c, err := s.dial(t, cert); err == nil {
		c.Close()
		t.Fatal("a third connection was accepted over the bound of 2")
	}
	// Closing one makes room again.
	open[0].Close()
	waitUntil(t, func() bool { return s.a.Connections(pki.Fingerprint(cert.Certificate[0])) < 2 })
	c, err := s.dial(t, cert)
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	c.Close()
	open[1].Close()
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
	}
}
