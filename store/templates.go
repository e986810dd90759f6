package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// Template states: a template is "building" while its root filesystem is
// being made and "ready" once zones may be created from it.
const (
	TemplateBuilding = "building"
	TemplateReady    = "ready"
)

// TemplateRecord is everything zoned keeps about an OS template.
type TemplateRecord struct {
	Name      string
	Source    string // builtin | debootstrap | tar
	Suite     string
	Include   []string
	Init      string
	State     string // TemplateBuilding or TemplateReady
	SizeBytes int64
	CreatedAt time.Time
}

// CreateTemplate stores a new template record.
func (s *Store) CreateTemplate(rec *TemplateRecord) error {
	if err := validate.Name("template", rec.Name); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketTemplates)
		if b.Get([]byte(rec.Name)) != nil {
			return fmt.Errorf("template %q: %w", rec.Name, errdefs.ErrAlreadyExists)
		}
		return templateKind.put(tx, rec.Name, rec)
	})
	if err != nil {
		return fmt.Errorf("create template record: %w", err)
	}
	return nil
}

// GetTemplate returns the template's record, or an error wrapping
// ErrNotFound.
func (s *Store) GetTemplate(name string) (*TemplateRecord, error) {
	var rec *TemplateRecord
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		rec, err = templateKind.get(tx, name)
		if err == nil && rec == nil {
			err = fmt.Errorf("template %q: %w", name, errdefs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// ListTemplates returns every template record, sorted by name.
func (s *Store) ListTemplates() ([]*TemplateRecord, error) {
	return templateKind.list(s)
}

// UpdateTemplate changes a template's record in one transaction, as
// UpdateZone does; fn cannot rename it.
func (s *Store) UpdateTemplate(name string, fn func(*TemplateRecord) error) (*TemplateRecord, error) {
	var out *TemplateRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		rec, err := templateKind.get(tx, name)
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("template %q: %w", name, errdefs.ErrNotFound)
		}
		if err := fn(rec); err != nil {
			return err
		}
		rec.Name = name
		if err := templateKind.put(tx, name, rec); err != nil {
			return err
		}
		out = rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update template %q: %w", name, err)
	}
	return out, nil
}

// DeleteTemplate removes the template's record. Whether zones still use it
// is the caller's question (ZonesUsingTemplate).
func (s *Store) DeleteTemplate(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketTemplates)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("delete template %q: %w", name, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}
