//go:build linux

package manager

import "github.com/zoned-project/zoned/store"

// Store is the daemon's store, for the services beside the manager that
// keep their own records in it (the HTTPS API's trust store): one file,
// one lock, one backup for all of a host's state.
func (m *Manager) Store() *store.Store { return m.store }
