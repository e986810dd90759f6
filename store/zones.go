package store

import (
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// ZoneRecord is everything zoned keeps about a zone.
type ZoneRecord struct {
	Name      string
	UUID      string
	Template  string
	Hostname  string
	Autostart bool
	// AutostartPriority orders autostart (higher first) and host shutdown
	// (lower first); AutostartDelaySeconds is the pause after starting
	// this zone before the next priority group.
	AutostartPriority     int
	AutostartDelaySeconds int
	Resources             api.Resources
	Spec                  *specs.Spec
	State                 api.ZoneState
	InitPID               int
	// InitStartTime is the init's starttime from /proc/PID/stat; with
	// InitPID it names the process even after the PID is reused.
	InitStartTime uint64
	CgroupPath    string
	CreatedAt     time.Time
	StartedAt     *time.Time
	LastExit      string
	// QuotaHits counts the times the running zone hit its disk quota
	// since it started (api.ZoneFails.Quota), kept here so that a daemon
	// restart, which adopts the zone, does not reset it as it does not
	// reset the cgroup's counters.
	QuotaHits uint64
	// Privileged zones have no user namespace (root inside is host root).
	Privileged bool
	// Devices are the optional host devices the zone asked for.
	Devices []string
	// IDMapBase and IDMapSize are an unprivileged zone's range of host
	// UIDs and GIDs (zone ID n is host ID IDMapBase+n), allocated by
	// CreateZoneWithIDMap; both 0 for a privileged zone. Deleting the
	// record frees the range.
	IDMapBase uint32
	IDMapSize uint32
	// Pool is the storage pool of the zone's own layer ("" before pools
	// existed means the default pool).
	Pool string
	// NICs are the zone's network interfaces as configured, with the
	// addresses and MACs zoned chose for them.
	NICs []api.NIC
	// DNS are the nameservers of the zone's /etc/resolv.conf.
	DNS    []string
	Labels map[string]string
	// Revision is set by the store: 1 on create, +1 on each update. It lets
	// a reader tell whether a record changed since it last looked.
	Revision uint64
}

// CreateZone stores a new zone record with Revision 1 (set in rec too).
func (s *Store) CreateZone(rec *ZoneRecord) error {
	if err := validate.Name("zone", rec.Name); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketZones)
		if b.Get([]byte(rec.Name)) != nil {
			return fmt.Errorf("zone %q: %w", rec.Name, errdefs.ErrAlreadyExists)
		}
		stored := *rec
		stored.Revision = 1
		return zoneKind.put(tx, rec.Name, &stored)
	})
	if err != nil {
		return fmt.Errorf("create zone record: %w", err)
	}
	rec.Revision = 1
	return nil
}

// CreateZoneWithIDMap stores a new zone record like CreateZone and, in the
// same transaction, gives it the lowest range of size host IDs starting at
// minBase + k*size (k = 0, 1, ...) that overlaps no other zone's range. A
// single writer transaction makes two concurrent creates pick different
// ranges. It fails with ErrUnavailable when the 32-bit ID space above
// minBase is used up.
func (s *Store) CreateZoneWithIDMap(rec *ZoneRecord, minBase, size uint32) error {
	if err := validate.Name("zone", rec.Name); err != nil {
		return err
	}
	if size == 0 {
		return fmt.Errorf("create zone record %q: ID range size 0: %w", rec.Name, errdefs.ErrInvalid)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketZones)
		if b.Get([]byte(rec.Name)) != nil {
			return fmt.Errorf("zone %q: %w", rec.Name, errdefs.ErrAlreadyExists)
		}
		type span struct{ lo, hi uint64 } // [lo, hi)
		var used []span
		err := b.ForEach(func(k, v []byte) error {
			r, err := decodeZoneRefs(v)
			if err != nil {
				return fmt.Errorf("decode zone %q: %w", k, err)
			}
			if r.IDMapSize > 0 {
				used = append(used, span{uint64(r.IDMapBase), uint64(r.IDMapBase) + uint64(r.IDMapSize)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if s.reservedIDs != nil {
			for _, r := range s.reservedIDs() {
				used = append(used, span{r[0], r[1]})
			}
		}
		// IDs up to 2^32-2: (uid_t)-1 means "no change" to the kernel.
		const limit = uint64(1)<<32 - 1
		base := uint64(minBase)
	search:
		for ; base+uint64(size) <= limit; base += uint64(size) {
			for _, u := range used {
				if base < u.hi && u.lo < base+uint64(size) {
					continue search
				}
			}
			stored := *rec
			stored.Revision = 1
			stored.IDMapBase, stored.IDMapSize = uint32(base), size
			if err := zoneKind.put(tx, rec.Name, &stored); err != nil {
				return err
			}
			rec.IDMapBase, rec.IDMapSize = stored.IDMapBase, size
			return nil
		}
		return fmt.Errorf("no free range of %d host IDs above %d: %w", size, minBase, errdefs.ErrUnavailable)
	})
	if err != nil {
		return fmt.Errorf("create zone record: %w", err)
	}
	rec.Revision = 1
	return nil
}

// GetZone returns the zone's record, or an error wrapping ErrNotFound.
func (s *Store) GetZone(name string) (*ZoneRecord, error) {
	var rec *ZoneRecord
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		rec, err = zoneKind.get(tx, name)
		if err == nil && rec == nil {
			err = fmt.Errorf("zone %q: %w", name, errdefs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// ListZones returns every zone record, sorted by name.
func (s *Store) ListZones() ([]*ZoneRecord, error) {
	return zoneKind.list(s)
}

// UpdateZone reads the zone's record, lets fn change it and writes it back,
// all in one transaction: no other writer runs in between, and an error from
// fn leaves the record as it was. The name and Revision are the store's;
// fn cannot change them. It returns the record as stored.
func (s *Store) UpdateZone(name string, fn func(*ZoneRecord) error) (*ZoneRecord, error) {
	var out *ZoneRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		rec, err := zoneKind.get(tx, name)
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("zone %q: %w", name, errdefs.ErrNotFound)
		}
		rev := rec.Revision
		if err := fn(rec); err != nil {
			return err
		}
		rec.Name = name
		rec.Revision = rev + 1
		if err := zoneKind.put(tx, name, rec); err != nil {
			return err
		}
		out = rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update zone %q: %w", name, err)
	}
	return out, nil
}

// DeleteZone removes the zone's record.
func (s *Store) DeleteZone(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketZones)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("delete zone %q: %w", name, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}

// ZonesUsingTemplate returns the names of zones whose Template is name,
// sorted.
func (s *Store) ZonesUsingTemplate(name string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketZones).ForEach(func(k, v []byte) error {
			rec, err := decodeZoneRefs(v)
			if err != nil {
				return fmt.Errorf("decode zone %q: %w", k, err)
			}
			if rec.Template == name {
				out = append(out, string(k))
			}
			return nil
		})
	})
	return out, err
}
