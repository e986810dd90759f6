package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// The trust store of the HTTPS API: the clients whose certificates the
// daemon accepts, and the one-time tokens that enrol new ones (doc.go's
// tree). A token is kept only as the SHA-256 of its secret, so neither
// the file nor a backup of it can enrol anybody.
var (
	bucketClients = []byte("clients")
	bucketTokens  = []byte("tokens")
)

// Scope restricts what a trusted client may do; the zero Scope is an
// operator with every right.
type Scope struct {
	// ReadOnly clients may only read.
	ReadOnly bool
	// Labels confine the client to zones carrying all of them (a
	// reseller's or a customer's); zones it creates get them forced on.
	// A client with labels makes no host-wide call and no privileged zone.
	Labels map[string]string
	// Caps on the sum over the client's zones; 0 is no cap.
	MaxMemoryBytes, MaxCPUPercent, MaxDiskBytes int64
}

// TrustedClient is a client certificate the API accepts.
type TrustedClient struct {
	Name string
	// Fingerprint is "sha256:" and the hex SHA-256 of the certificate's
	// DER bytes.
	Fingerprint string
	// CertPEM is the certificate as the client presented it.
	CertPEM   []byte
	Scope     Scope
	AddedAt   time.Time
	ExpiresAt time.Time
}

// EnrolToken is a one-time token that lets a client enrol as Name.
type EnrolToken struct {
	// Hash is the hex SHA-256 of the token's secret.
	Hash      string
	Name      string
	Scope     Scope
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AddClient stores a trusted client; a name or a fingerprint already
// trusted is ErrAlreadyExists.
func (s *Store) AddClient(c *TrustedClient) error {
	if err := validate.Name("client", c.Name); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return addClient(tx, c) })
}

func addClient(tx *bolt.Tx, c *TrustedClient) error {
	if bucket(tx, bucketClients).Get([]byte(c.Name)) != nil {
		return fmt.Errorf("client %q is already trusted: %w", c.Name, errdefs.ErrAlreadyExists)
	}
	err := clientKind.each(tx, func(_ []byte, o *TrustedClient) error {
		if o.Fingerprint == c.Fingerprint {
			return fmt.Errorf("certificate %s is already trusted as %q: %w", c.Fingerprint, o.Name, errdefs.ErrAlreadyExists)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return clientKind.put(tx, c.Name, c)
}

// ListClients returns every trusted client, sorted by name.
func (s *Store) ListClients() ([]*TrustedClient, error) { return clientKind.list(s) }

// DeleteClient forgets a trusted client.
func (s *Store) DeleteClient(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketClients)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("client %q: %w", name, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}

// AddToken stores a new enrolment token. Expired tokens are dropped in
// the same transaction, so the bucket never grows with tokens nobody
// used.
func (s *Store) AddToken(t *EnrolToken) error {
	if err := validate.Name("client", t.Name); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := dropExpiredTokens(tx, t.CreatedAt); err != nil {
			return err
		}
		if bucket(tx, bucketClients).Get([]byte(t.Name)) != nil {
			return fmt.Errorf("client %q is already trusted: %w", t.Name, errdefs.ErrAlreadyExists)
		}
		err := tokenKind.each(tx, func(_ []byte, o *EnrolToken) error {
			if o.Name == t.Name {
				return fmt.Errorf("a token for client %q is already pending: %w", t.Name, errdefs.ErrAlreadyExists)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tokenKind.put(tx, t.Hash, t)
	})
}

// ListTokens returns the pending tokens (without their secrets, which
// the store never had), sorted by hash.
func (s *Store) ListTokens() ([]*EnrolToken, error) { return tokenKind.list(s) }

// DeleteToken revokes a pending token of client name.
func (s *Store) DeleteToken(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		found := ""
		err := tokenKind.each(tx, func(k []byte, t *EnrolToken) error {
			if t.Name == name {
				found = string(k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if found == "" {
			return fmt.Errorf("token of client %q: %w", name, errdefs.ErrNotFound)
		}
		return bucket(tx, bucketTokens).Delete([]byte(found))
	})
}

// Enrol spends the token whose secret hashes to hash and trusts c under
// the token's name and scope, in one transaction: a token enrols at most
// one client, however many handshakes race with it. A token that is
// unknown, spent or expired is ErrNotFound, and an expired one is
// deleted.
func (s *Store) Enrol(hash string, c *TrustedClient, now time.Time) (*TrustedClient, error) {
	var out *TrustedClient
	err := s.db.Update(func(tx *bolt.Tx) error {
		t, err := tokenKind.get(tx, hash)
		if err != nil {
			return err
		}
		if t == nil {
			return fmt.Errorf("enrolment token: %w", errdefs.ErrNotFound)
		}
		if err := bucket(tx, bucketTokens).Delete([]byte(hash)); err != nil {
			return err
		}
		if !now.Before(t.ExpiresAt) {
			// Deleting it is worth committing: the error goes back as
			// the result, not as the transaction's.
			return nil
		}
		e := *c
		e.Name, e.Scope, e.AddedAt = t.Name, t.Scope, now
		if err := addClient(tx, &e); err != nil {
			return err
		}
		out = &e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enrol client: %w", err)
	}
	if out == nil {
		return nil, fmt.Errorf("enrol client: enrolment token expired: %w", errdefs.ErrNotFound)
	}
	return out, nil
}

func dropExpiredTokens(tx *bolt.Tx, now time.Time) error {
	var old [][]byte
	err := tokenKind.each(tx, func(k []byte, t *EnrolToken) error {
		if !now.Before(t.ExpiresAt) {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := bucket(tx, bucketTokens).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
