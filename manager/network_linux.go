package manager

import (
	"context"
	"fmt"
	"os"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/manager/part/network"
	"github.com/zoned-project/zoned/store"
)

// The network part (package manager/part/network) owns networks, NICs
// and port forwards; the methods here are the API's way in: they check
// names, take the zone's lock and hand over.

// newNetPart makes the network part, which writes a zone's
// /etc/resolv.conf into the volume its record names.
func newNetPart(m *Manager) *network.Part {
	return network.New(partHost{m}, func(rec *store.ZoneRecord, path string, data []byte, mode os.FileMode) error {
		v, err := m.volume(rec)
		if err != nil {
			return err
		}
		return v.WriteFile(path, data, mode)
	})
}

// CreateNetwork checks and stores a network and makes its host devices.
func (m *Manager) CreateNetwork(ctx context.Context, req api.Network) (*api.Network, error) {
	if err := validate.Name("network", req.Name); err != nil {
		return nil, fmt.Errorf("create network %q: %w", req.Name, errdefs.WithField("name", err))
	}
	nw, err := m.net.CreateNetwork(req)
	if err != nil {
		return nil, fmt.Errorf("create network %q: %w", req.Name, err)
	}
	return nw, nil
}

// ListNetworks returns every network with the NICs that use it.
func (m *Manager) ListNetworks(ctx context.Context) ([]api.Network, error) {
	return m.net.ListNetworks()
}

// GetNetwork returns one network.
func (m *Manager) GetNetwork(ctx context.Context, name string) (*api.Network, error) {
	return m.net.GetNetwork(name)
}

// DeleteNetwork removes a network no NIC uses, and its host devices.
func (m *Manager) DeleteNetwork(ctx context.Context, name string) error {
	if err := m.net.DeleteNetwork(name); err != nil {
		return fmt.Errorf("delete network %q: %w", name, err)
	}
	return nil
}

// ListNICs returns a zone's NICs.
func (m *Manager) ListNICs(ctx context.Context, zone string) ([]api.NIC, error) {
	return m.net.ListNICs(zone)
}

// AddNIC gives a zone a NIC; a running zone gets it at once.
func (m *Manager) AddNIC(ctx context.Context, zone string, req api.NICRequest) (*api.NIC, error) {
	var out api.NIC
	err := m.withZone("add nic to", zone, func(rec *store.ZoneRecord) (err error) {
		out, err = m.net.AddNIC(rec, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("nic added", "zone", zone, "nic", out.Name, "network", out.Network)
	return &out, nil
}

// RemoveNIC takes a NIC from a zone, at once if it runs.
func (m *Manager) RemoveNIC(ctx context.Context, zone, name string) error {
	return m.withZone("remove nic from", zone, func(rec *store.ZoneRecord) error {
		return m.net.RemoveNIC(rec, name)
	})
}

// SetNIC changes a NIC's rate cap, live when the zone runs.
func (m *Manager) SetNIC(ctx context.Context, zone, name string, patch api.NICPatch) (*api.NIC, error) {
	var out api.NIC
	err := m.withZone("set nic of", zone, func(rec *store.ZoneRecord) (err error) {
		out, err = m.net.SetNIC(rec, name, patch)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AddPortForward forwards a host port into a zone.
func (m *Manager) AddPortForward(ctx context.Context, zone string, pf api.PortForward) (*api.PortForward, error) {
	var out api.PortForward
	err := m.withZone("forward a port to", zone, func(rec *store.ZoneRecord) (err error) {
		out, err = m.net.AddPortForward(rec, pf)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListPortForwards returns a zone's port forwards ("" for all zones').
func (m *Manager) ListPortForwards(ctx context.Context, zone string) ([]api.PortForward, error) {
	return m.net.ListPortForwards(zone)
}

// RemovePortForward stops forwarding a host port into a zone.
func (m *Manager) RemovePortForward(ctx context.Context, zone, proto string, hostPort int) error {
	return m.withZone("remove port forward of", zone, func(rec *store.ZoneRecord) error {
		return m.net.RemovePortForward(rec, proto, hostPort)
	})
}
