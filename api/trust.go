package api

import "time"

// ClientScope restricts what a trusted HTTPS client may do; the zero
// scope is an operator with every right.
type ClientScope struct {
	// ReadOnly clients may only read.
	ReadOnly bool `json:"read_only,omitempty"`
	// Labels confine the client to zones carrying all of them; zones it
	// creates get them forced on, every other zone is invisible to it
	// (404), and it makes no host-wide call and no privileged zone.
	Labels map[string]string `json:"labels,omitempty"`
	// Caps on the totals of the client's zones; 0 is no cap.
	MaxMemoryBytes int64 `json:"max_memory_bytes,omitempty"`
	MaxCPUPercent  int64 `json:"max_cpu_percent,omitempty"`
	MaxDiskBytes   int64 `json:"max_disk_bytes,omitempty"`
}

// TrustedClient is a client certificate the HTTPS API accepts.
type TrustedClient struct {
	Name        string      `json:"name"`
	Fingerprint string      `json:"fingerprint"`
	Scope       ClientScope `json:"scope"`
	AddedAt     time.Time   `json:"added_at"`
	// ExpiresAt is the certificate's end: after it the client is refused.
	ExpiresAt time.Time `json:"expires_at"`
	// Connections counts the client's open connections.
	Connections int `json:"connections"`
}

// AddClientRequest trusts a certificate the caller made (automation).
type AddClientRequest struct {
	Name string `json:"name"`
	// Certificate is the client's certificate, PEM.
	Certificate string      `json:"certificate"`
	Scope       ClientScope `json:"scope"`
}

// CreateTokenRequest asks for a one-time token that enrols a client.
type CreateTokenRequest struct {
	Name  string      `json:"name"`
	Scope ClientScope `json:"scope"`
	// ExpiresSeconds is the token's life; 0 is an hour, at most a week.
	ExpiresSeconds int64 `json:"expires_seconds,omitempty"`
}

// TrustToken is a pending enrolment. Token, the secret, is in the answer
// to its creation only; the daemon keeps its hash.
type TrustToken struct {
	Name              string      `json:"name"`
	Token             string      `json:"token,omitempty"`
	ServerFingerprint string      `json:"server_fingerprint"`
	Scope             ClientScope `json:"scope"`
	ExpiresAt         time.Time   `json:"expires_at"`
}
