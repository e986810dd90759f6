package store

// Networks and port forwards have buckets of their own (doc.go's tree).
// A zone's NICs live in its ZoneRecord, so a NIC and its zone change in
// one transaction; which NICs use a network is found from the zones.

import (
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

var (
	bucketNetworks     = []byte("networks")
	bucketPortForwards = []byte("portforwards")
)

// NetworkRecord is everything zoned keeps about a network.
type NetworkRecord struct {
	api.Network
	CreatedAt time.Time
}

// CreateNetwork stores a new network; check runs inside the same
// transaction with every other network, so two creates cannot both take
// overlapping subnets.
func (s *Store) CreateNetwork(rec *NetworkRecord, check func(others []*NetworkRecord) error) error {
	if err := validate.Name("network", rec.Name); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketNetworks)
		if b.Get([]byte(rec.Name)) != nil {
			return fmt.Errorf("network %q: %w", rec.Name, errdefs.ErrAlreadyExists)
		}
		var others []*NetworkRecord
		if err := networkKind.each(tx, func(_ []byte, o *NetworkRecord) error {
			others = append(others, o)
			return nil
		}); err != nil {
			return err
		}
		if check != nil {
			if err := check(others); err != nil {
				return err
			}
		}
		return networkKind.put(tx, rec.Name, rec)
	})
}

// GetNetwork returns a network, or an error wrapping ErrNotFound.
func (s *Store) GetNetwork(name string) (*NetworkRecord, error) {
	var rec *NetworkRecord
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		rec, err = networkKind.get(tx, name)
		if err == nil && rec == nil {
			err = fmt.Errorf("network %q: %w", name, errdefs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// ListNetworks returns every network, sorted by name.
func (s *Store) ListNetworks() ([]*NetworkRecord, error) {
	return networkKind.list(s)
}

// DeleteNetwork removes a network's record when inUse, run in the same
// transaction over every zone record, says no zone uses it.
func (s *Store) DeleteNetwork(name string, inUse func(zones []*ZoneRecord) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketNetworks)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("network %q: %w", name, errdefs.ErrNotFound)
		}
		var zones []*ZoneRecord
		if err := zoneKind.each(tx, func(_ []byte, z *ZoneRecord) error {
			zones = append(zones, z)
			return nil
		}); err != nil {
			return err
		}
		if err := inUse(zones); err != nil {
			return err
		}
		return b.Delete([]byte(name))
	})
}

func portForwardKey(proto string, port int) string { return proto + "/" + strconv.Itoa(port) }

// AddPortForward stores a port forward; a host port and protocol already
// forwarded is ErrAlreadyExists.
func (s *Store) AddPortForward(pf api.PortForward) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketPortForwards)
		key := portForwardKey(pf.Protocol, pf.HostPort)
		if b.Get([]byte(key)) != nil {
			old, err := portForwardKind.get(tx, key)
			if err != nil {
				return err
			}
			return fmt.Errorf("host port %s is already forwarded to zone %q: %w", key, old.Zone, errdefs.ErrAlreadyExists)
		}
		return portForwardKind.put(tx, key, &pf)
	})
}

// DeletePortForward removes one; missing is ErrNotFound.
func (s *Store) DeletePortForward(zone, proto string, port int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketPortForwards)
		key := portForwardKey(proto, port)
		if old, err := portForwardKind.get(tx, key); err != nil {
			return err
		} else if old == nil || (zone != "" && old.Zone != zone) {
			return fmt.Errorf("port forward %s of zone %q: %w", key, zone, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(key))
	})
}

// ListPortForwards returns every port forward.
func (s *Store) ListPortForwards() ([]*api.PortForward, error) {
	return portForwardKind.list(s)
}
