package store

import (
	"bytes"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// summaryCache keeps decoded zone records, without their spec, for
// ListZoneSummaries, each with the bytes it was decoded from. A record
// is reused only while its bytes in the store are the same, so the cache
// needs no invalidation and stays right whoever writes the bucket.
type summaryCache struct {
	mu   sync.Mutex
	recs map[string]*cachedZone
}

type cachedZone struct {
	raw []byte
	rec ZoneRecord // Spec nil
}

// ListZoneSummaries returns every zone's record without its Spec, sorted
// by name: what lists need. Decoding a thousand records' JSON on every
// list costs far more than the list's budget (tens of ms on a loaded
// host), so records whose bytes did not change since the last call are
// served from memory; comparing the bytes is a memcmp.
//
// The records share their maps, slices and pointers with the cache:
// callers must not modify them (copy first).
func (s *Store) ListZoneSummaries() ([]*ZoneRecord, error) {
	c := &s.summaries
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.recs
	fresh := make(map[string]*cachedZone, len(old))
	var out []*ZoneRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketZones).ForEach(func(k, v []byte) error {
			cz := old[string(k)]
			if cz == nil || !bytes.Equal(cz.raw, v) {
				rec, err := zoneKind.decode(v)
				if err != nil {
					return fmt.Errorf("decode zones %q: %w", k, err)
				}
				rec.Spec = nil
				cz = &cachedZone{raw: bytes.Clone(v), rec: *rec}
			}
			fresh[string(k)] = cz
			rec := cz.rec
			out = append(out, &rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// Deleted zones drop out of the cache here.
	c.recs = fresh
	return out, nil
}
