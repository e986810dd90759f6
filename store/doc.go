// Package store keeps all of zoned's persistent state in one bbolt file, so
// that a zone's record and its state change in a single fsynced
// transaction and a daemon restarted after a crash finds exactly what was
// committed.
//
// The file's schema, one bucket per kind of object under a versioned root:
//
//	v1                              root bucket; the "1" is the layout generation
//	├── version : uint64 big-endian schema version (migrations bump it)
//	├── instance : the daemon's instance ID, 8 hex digits (instance.go);
//	│              it names the daemon's nft tables and tags its links
//	├── zones
//	│   └── <zone name> : zoneV1 as JSON (ZoneRecord)
//	├── templates
//	│   └── <template name> : templateV1 as JSON (TemplateRecord)
//	├── networks
//	│   └── <network name> : networkV1 as JSON (NetworkRecord)
//	├── portforwards
//	│   └── <protocol>/<host port> : portForwardV1 as JSON (api.PortForward)
//	├── operations
//	│   └── <operation id> : operationV1 as JSON (api.Operation)
//	├── pools
//	│   └── <pool name> : poolV1 as JSON (PoolRecord; the default pool
//	│                     is not stored)
//	├── snapshots
//	│   └── <zone name>@<snapshot name> : snapshotV1 as JSON (SnapshotRecord)
//	├── clients
//	│   └── <client name> : clientV1 as JSON (TrustedClient: a certificate
//	│                       the HTTPS API accepts, with its scope)
//	├── tokens
//	│   └── <hex SHA-256 of a token's secret> : tokenV1 as JSON (EnrolToken;
//	│                       the secret itself is never stored)
//	└── quarantine
//	    └── <bucket>/<key> : a record that did not decode at open, moved
//	                         here as it was (open.go); nothing reads it
//
// Update this tree each time the layout changes, with a migration
// (store.go); TestSchemaTreeIsComplete fails when a bucket is missing
// from it.
//
// The disk types (…V1) are the store's own, apart from the api wire
// types the rest of zoned passes around; records.go converts between
// them and is the only place that does, so renaming an api field can
// never migrate the database by accident. testdata/v1.db is a store
// written before the disk types existed, which every later build must
// still read (fixture_test.go).
//
// Values are JSON so that a person with bbolt's CLI can read them and a new
// field needs no migration; migrations are for changes of layout or meaning.
// Bytes bbolt hands out are only valid inside their transaction, so every
// value is decoded (copied) before the transaction ends.
//
// Opening is defensive (open.go): the meta pages are checked against the
// file's size before bbolt reads it, bbolt's panics become ErrDamaged,
// its consistency check runs on every open, and a newer schema is
// ErrNewerSchema; the daemon refuses such a file with the way out
// (docs/recovery.md) instead of crashing or guessing. Backups
// (backup.go) are consistent copies written beside the data, which
// `zoned recover -from-backup` verifies and restores. The quarantine
// bucket needed no migration: migrate creates missing buckets on every
// open.
package store
