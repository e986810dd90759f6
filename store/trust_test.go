package store

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zoned-project/zoned/errdefs"
)

func TestEnrolSpendsTokenOnce(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	scope := Scope{Labels: map[string]string{"customer": "c1042"}, MaxMemoryBytes: 8 << 30}
	if err := s.AddToken(&EnrolToken{Hash: "h1", Name: "panel1", Scope: scope, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Many handshakes race with one token: exactly one enrols.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &TrustedClient{Fingerprint: "sha256:" + string(rune('a'+i)), CertPEM: []byte("pem")}
			got, err := s.Enrol("h1", c, now.Add(time.Minute))
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
				if got.Name != "panel1" || got.Scope.Labels["customer"] != "c1042" || got.Scope.MaxMemoryBytes != 8<<30 {
					t.Errorf("enrolled %+v, want the token's name and scope", got)
				}
			} else if !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("losing enrol: %v, want ErrNotFound", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d enrolments from one token, want 1", won)
	}
	if toks, _ := s.ListTokens(); len(toks) != 0 {
		t.Errorf("spent token still stored: %+v", toks)
	}
	cs, err := s.ListClients()
	if err != nil || len(cs) != 1 || cs[0].Name != "panel1" {
		t.Fatalf("clients %+v (err %v), want panel1", cs, err)
	}
}

func TestEnrolRefusesExpiredToken(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	if err := s.AddToken(&EnrolToken{Hash: "h1", Name: "late", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Enrol("h1", &TrustedClient{Fingerprint: "sha256:aa"}, now.Add(time.Minute))
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("expired token: %v, want ErrNotFound", err)
	}
	if toks, _ := s.ListTokens(); len(toks) != 0 {
		t.Errorf("expired token kept after use: %+v", toks)
	}
	if cs, _ := s.ListClients(); len(cs) != 0 {
		t.Errorf("expired token enrolled %+v", cs)
	}
}

func TestTrustRefusesDuplicates(t *testing.T) {
	s := openTemp(t)
	now := time.Now()
	if err := s.AddClient(&TrustedClient{Name: "ops", Fingerprint: "sha256:aa", AddedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*TrustedClient{
		{Name: "ops", Fingerprint: "sha256:bb"},
		{Name: "ops2", Fingerprint: "sha256:aa"},
	} {
		if err := s.AddClient(c); !errors.Is(err, errdefs.ErrAlreadyExists) {
			t.Errorf("AddClient(%s, %s): %v, want ErrAlreadyExists", c.Name, c.Fingerprint, err)
		}
	}
	if err := s.AddToken(&EnrolToken{Hash: "h", Name: "ops", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("token for a trusted name: %v, want ErrAlreadyExists", err)
	}
	// A token whose client's certificate is trusted already enrols nobody.
	if err := s.AddToken(&EnrolToken{Hash: "h2", Name: "other", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enrol("h2", &TrustedClient{Fingerprint: "sha256:aa"}, now); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("enrol of a trusted certificate: %v, want ErrAlreadyExists", err)
	}
	if err := s.DeleteToken("other"); err != nil {
		t.Errorf("the failed enrolment spent the token: %v", err)
	}
	if err := s.DeleteClient("ops"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient("ops"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}
