//go:build linux

package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/zoned-project/zoned/manager"
	"github.com/zoned-project/zoned/pki"
	"github.com/zoned-project/zoned/server"
	"github.com/zoned-project/zoned/trust"
)

// httpsConfig is what the HTTPS flags ask for.
type httpsConfig struct {
	address, cert, key string
}

// serverCertLife is the life of the certificate zoned makes itself:
// clients pin its fingerprint, so renewing it means enrolling them
// again; operators who rotate certificates give their own (-tls-cert).
const serverCertLife = 10 * 365 * 24 * time.Hour

// open loads (or makes, on first start) the server certificate and the
// trust store and opens the TCP listener; all empty when HTTPS is off,
// and then the /v1/trust routes answer that it is off.
func (c httpsConfig) open(m *manager.Manager, dataDir string, log *slog.Logger) (server.Options, net.Listener, error) {
	if c.address == "" {
		return server.Options{}, nil, nil
	}
	certPath, keyPath := c.cert, c.key
	if certPath == "" {
		certPath = filepath.Join(dataDir, "tls", "server.crt")
	}
	if keyPath == "" {
		keyPath = filepath.Join(dataDir, "tls", "server.key")
	}
	var pair *pki.Pair
	var err error
	if c.cert != "" || c.key != "" {
		pair, err = pki.Load(certPath, keyPath)
	} else {
		host, _ := os.Hostname()
		pair, err = pki.LoadOrCreate(certPath, keyPath, pki.Options{CommonName: host, DNSNames: []string{host}, Server: true, ValidFor: serverCertLife})
	}
	if err != nil {
		return server.Options{}, nil, fmt.Errorf("HTTPS certificate: %w", err)
	}
	a, err := trust.New(m.Store(), pair, log)
	if err != nil {
		return server.Options{}, nil, err
	}
	l, err := net.Listen("tcp", c.address)
	if err != nil {
		return server.Options{}, nil, fmt.Errorf("HTTPS address: %w", err)
	}
	log.Info("serving HTTPS", "address", l.Addr().String(), "fingerprint", pair.Fingerprint)
	return server.Options{Trust: a, HTTPSAddress: l.Addr().String()}, l, nil
}
