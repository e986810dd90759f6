package procview

import (
	"sync"
	"time"
)

// A zone reading its view files in a loop must slow only itself. Every
// open, lookup and stat of a view file needs a snapshot of the zone
// (Snap: its cgroup files and the state of each of its tasks), work the
// server does outside every zone's CPU limit. So snapshots are taken per
// zone, one at a time: a zone's requests wait in the zone's own line
// while one snapshot is taken, and all that were waiting share the next
// one, which starts after they arrived, so none sees numbers older than
// its request. However many readers a zone runs, it keeps at most one of
// the server's threads busy, and another zone's requests never wait in
// its line. Reads of an open file are answered from the data taken at
// open and wait in no line: the kernel's few slots for background reads,
// shared by all zones, are never held by a zone's wait.

// snapper takes zones' snapshots, one at a time per zone.
type snapper struct {
	mu    sync.Mutex
	zones map[string]*zoneLine

	// hook, if set (tests), runs in a zone's turn before its snapshot
	// is taken; arrive when a request joins a zone's line.
	hook, arrive func(zone string)
}

// zoneLine is one zone's line: turn is held by the request taking a
// snapshot; last is the latest snapshot and when it was started.
type zoneLine struct {
	users int
	turn  sync.Mutex
	last  *Snapshot
	cfg   Config
	at    time.Time
}

func newSnapper() *snapper { return &snapper{zones: map[string]*zoneLine{}} }

// snap returns a snapshot of zone taken after the call began.
func (s *snapper) snap(zone string, cfg Config, caller int) (*Snapshot, error) {
	arrived := time.Now()
	s.mu.Lock()
	l := s.zones[zone]
	if l == nil {
		l = &zoneLine{}
		s.zones[zone] = l
	}
	l.users++
	arrive, hook := s.arrive, s.hook
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if l.users--; l.users == 0 {
			delete(s.zones, zone)
		}
		s.mu.Unlock()
	}()
	if arrive != nil {
		arrive(zone)
	}
	l.turn.Lock()
	defer l.turn.Unlock()
	// A snapshot started while this request waited is as new as one
	// taken now would be, unless the zone changed (a restart).
	if l.last != nil && !l.at.Before(arrived) && sameInit(l.cfg, cfg) {
		return l.last, nil
	}
	if hook != nil {
		hook(zone)
	}
	at := time.Now()
	snap, err := Snap(zone, cfg, caller)
	if err != nil {
		return nil, err
	}
	l.last, l.cfg, l.at = snap, cfg, at
	return snap, nil
}

// sameInit tells whether two configs are of the same run of a zone.
func sameInit(a, b Config) bool {
	return a.Cgroup == b.Cgroup && a.InitPID == b.InitPID && a.InitStart == b.InitStart
}
