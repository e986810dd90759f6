//go:build linux

package manager

import (
	"log/slog"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/store"
)

// partHost is what the manager lends its parts (part.Host): the store,
// events, the log and a few facts about zones, and nothing of its own
// state.
type partHost struct{ m *Manager }

var _ part.Host = partHost{}

func (h partHost) Store() *store.Store      { return h.m.store }
func (h partHost) Logger() *slog.Logger     { return h.m.log }
func (h partHost) DataDir() string          { return h.m.cfg.DataDir }
func (h partHost) CgroupParent() string     { return h.m.cfg.CgroupParent }
func (h partHost) Running(zone string) bool { return h.m.isRunning(zone) }
func (h partHost) CgroupPath(zone string) string {
	return h.m.cgroupPath(zone)
}
func (h partHost) Emit(typ, zone string, state api.ZoneState, msg string) {
	h.m.emit(typ, zone, state, msg)
}
