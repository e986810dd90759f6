//go:build linux

package integration

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/pki"
)

// BenchmarkHTTPS is issue 18's benchmark: the latency of show and list
// over HTTPS (a kept-alive connection, as a panel holds one) beside the
// same calls on the socket, reported as a ratio, and full TLS 1.3
// handshakes with client certificates per second. Reported, never
// asserted.
func BenchmarkHTTPS(b *testing.B) {
	d := startDaemonWith(b, []string{"-https-address", "127.0.0.1:0"})
	ctx := ctxT(b)
	info, err := d.c.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := benchZones(b, 100)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("hb%04d", i)
	}
	if err := d.createZones(ctx, names, 8); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.destroyZones(ctx, names, 8) })
	tok, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	url := "https://" + info.HTTPSAddress
	certPEM, rc, err := client.Enrol(ctx, url, tok.Token, key, "bench")
	if err != nil {
		b.Fatal(err)
	}
	per := map[string]time.Duration{}
	for _, c := range []struct {
		name string
		c    *client.Client
	}{{"socket", d.c}, {"https", rc}} {
		b.Run("show/"+c.name, func(b *testing.B) {
			for range b.N {
				if _, err := c.c.GetZone(ctx, names[0]); err != nil {
					b.Fatal(err)
				}
			}
			per["show/"+c.name] = b.Elapsed() / time.Duration(b.N)
		})
		b.Run("list/"+c.name, func(b *testing.B) {
			for range b.N {
				if _, err := c.c.ListZones(ctx); err != nil {
					b.Fatal(err)
				}
			}
			per["list/"+c.name] = b.Elapsed() / time.Duration(b.N)
		})
	}
	keyPEM, _ := pki.EncodeKey(key)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("handshake", func(b *testing.B) {
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}
		start := time.Now()
		for range b.N {
			c, err := tls.Dial("tcp", info.HTTPSAddress, cfg)
			if err != nil {
				b.Fatal(err)
			}
			// TLS 1.3: the server's verdict on the client comes with the
			// first read; a request proves the handshake was accepted.
			fmt.Fprintf(c, "GET /v1/info HTTP/1.1\r\nHost: zoned\r\nConnection: close\r\n\r\n")
			if _, err := c.Read(make([]byte, 1)); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
	})
	for _, what := range []string{"show", "list"} {
		if s, h := per[what+"/socket"], per[what+"/https"]; s > 0 && h > 0 {
			b.Logf("%s with %d zones: socket %v, HTTPS %v: HTTPS/socket = %.2f", what, n, s, h, float64(h)/float64(s))
		}
	}
}
