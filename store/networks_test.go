package store

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

func TestNetworksAndPortForwards(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "z.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lan := &NetworkRecord{Network: api.Network{Name: "lan", Type: "bridge", Subnet: "10.1.0.0/24"}}
	if err := s.CreateNetwork(lan, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNetwork(lan, nil); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second create: %v", err)
	}
	// The check sees the other networks, inside the transaction, and its
	// refusal stores nothing.
	refuse := errors.New("overlap")
	err = s.CreateNetwork(&NetworkRecord{Network: api.Network{Name: "wan"}}, func(others []*NetworkRecord) error {
		if len(others) != 1 || others[0].Subnet != "10.1.0.0/24" {
			t.Errorf("check saw %+v", others)
		}
		return refuse
	})
	if !errors.Is(err, refuse) {
		t.Errorf("refused create: %v", err)
	}
	if nets, _ := s.ListNetworks(); len(nets) != 1 {
		t.Errorf("refused network stored: %d networks", len(nets))
	}
	if err := s.CreateZone(&ZoneRecord{Name: "z1", NICs: []api.NIC{{Name: "eth0", Network: "lan"}}}); err != nil {
		t.Fatal(err)
	}
	inUse := func(zones []*ZoneRecord) error {
		for _, z := range zones {
			if len(z.NICs) > 0 {
				return errdefs.ErrConflict
			}
		}
		return nil
	}
	if err := s.DeleteNetwork("lan", inUse); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("delete of a used network: %v", err)
	}
	if _, err := s.GetNetwork("lan"); err != nil {
		t.Errorf("refused delete removed the network: %v", err)
	}
	if err := s.DeleteNetwork("nope", inUse); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("delete of a missing network: %v", err)
	}

	pf := api.PortForward{Zone: "z1", HostPort: 8080, ZonePort: 80, Protocol: "tcp"}
	if err := s.AddPortForward(pf); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPortForward(pf); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("same host port twice: %v", err)
	}
	if err := s.AddPortForward(api.PortForward{Zone: "z1", HostPort: 8080, ZonePort: 80, Protocol: "udp"}); err != nil {
		t.Errorf("udp beside tcp: %v", err)
	}
	if err := s.DeletePortForward("other", "tcp", 8080); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("another zone's forward removed: %v", err)
	}
	if err := s.DeletePortForward("z1", "tcp", 8080); err != nil {
		t.Fatal(err)
	}
	if fwds, _ := s.ListPortForwards(); len(fwds) != 1 || fwds[0].Protocol != "udp" {
		t.Errorf("forwards left: %+v", fwds)
	}
}
