package store

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
)

// writeFixture rewrites testdata/v1.db from fixtureRecords. The file in
// the repository was written by the code of December 2026, before the
// store had record types of its own: it is the promise that a data
// directory of that time opens unchanged. Rewrite it only when a
// migration makes a new fixture (and keep the old one beside it).
var writeFixture = flag.Bool("write-fixture", false, "rewrite testdata/v1.db")

const fixturePath = "testdata/v1.db"

var fixtureTime = time.Date(2026, 12, 3, 10, 20, 30, 0, time.UTC)

// fixtureRecords is one record of every kind with every field set
// (TestFixtureSetsEveryField checks), so that a field the codec forgets
// shows up as a difference.
type fixtureSet struct {
	zone      *ZoneRecord
	template  *TemplateRecord
	network   *NetworkRecord
	forward   api.PortForward
	operation *api.Operation
	pool      *PoolRecord
	snapshot  *SnapshotRecord
}

func fixtureRecords() fixtureSet {
	started := fixtureTime.Add(time.Minute)
	return fixtureSet{
		zone: &ZoneRecord{
			Name: "web1", UUID: "0b7e1c2a-5a4e-4d8e-9a51-3c1f0e2b7d10", Template: "bookworm",
			Hostname: "web1.example.net", Autostart: true, AutostartPriority: 7, AutostartDelaySeconds: 3,
			Resources: api.Resources{
				MemoryBytes: 512 << 20, SwapBytes: 256 << 20, CPUs: "0-1", CPULimitPercent: 150, CPUWeight: 200,
				PidsMax: 300, DiskBytes: 1 << 30, DiskInodes: 100000, IOWeight: 300,
				IOReadBPS: 1 << 20, IOWriteBPS: 2 << 20, IOReadIOPS: 100, IOWriteIOPS: 200,
			},
			Spec: &specs.Spec{
				Version:  "1.2.0",
				Hostname: "web1",
				Process:  &specs.Process{Args: []string{"/sbin/init"}, Cwd: "/"},
				Linux:    &specs.Linux{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: pidsLimit(300)}}},
			},
			State: api.StateRunning, InitPID: 4242, InitStartTime: 987654, CgroupPath: "/zoned/web1",
			CreatedAt: fixtureTime, StartedAt: &started, LastExit: "exit status 0", QuotaHits: 2,
			Privileged: true, Devices: []string{"fuse", "tun"}, IDMapBase: 1 << 20, IDMapSize: 65536,
			Pool: "fast",
			NICs: []api.NIC{{
				Name: "eth0", Network: "lan", IPv4: []string{"10.20.0.5/24"}, IPv6: []string{"fd00::5/64"},
				Gateway: "10.20.0.1", MAC: "02:00:00:00:00:05", MTU: 1400, VLAN: 12, RateBitsPerSecond: 1e8,
				HostIfName: "zv1a2b3c4d5", Pending: "adding",
			}},
			DNS: []string{"10.20.0.1"}, Labels: map[string]string{"customer": "c1042"},
			Revision: 1,
		},
		template: &TemplateRecord{
			Name: "bookworm", Source: "debootstrap", Suite: "bookworm", Include: []string{"openssh-server"},
			Init: "/sbin/init", State: TemplateReady, SizeBytes: 300 << 20, CreatedAt: fixtureTime,
		},
		network: &NetworkRecord{
			Network: api.Network{
				Name: "lan", Type: "bridge", Subnet: "10.20.0.0/24", Gateway: "10.20.0.1", NAT: true,
				VLANFiltering: true, Uplink: "eth9", Parent: "eth8", VNI: 42, Remote: "192.0.2.1",
				Group: "239.1.1.1", Dev: "eth7", DNS: []string{"10.20.0.1"}, MTU: 1400,
				HostAccess: "tcp:53,udp:53", Bridge: "zbr1a2b3c4d", UsedBy: []string{"web1/eth0"},
			},
			CreatedAt: fixtureTime,
		},
		forward: api.PortForward{Zone: "web1", HostPort: 8080, ZonePort: 80, Protocol: "tcp", Address: "10.20.0.5"},
		operation: &api.Operation{
			ID: "op-1", Kind: "zone-export", Target: "web1", Status: api.OperationFailure, Progress: 40,
			Message: "writing layer", Err: &api.Error{Code: "insufficient_storage", Message: "disk full", Field: "path"},
			Outcome: "failed by a restart", CreatedAt: fixtureTime, UpdatedAt: started,
		},
		pool:     &PoolRecord{Name: "fast", Path: "/srv/fast", Backend: "btrfs", CreatedAt: fixtureTime},
		snapshot: &SnapshotRecord{Zone: "web1", Name: "before-upgrade", CreatedAt: fixtureTime, Running: true, SizeBytes: 4096},
	}
}

func pidsLimit(n int64) *int64 { return &n }

// write stores the set in a fresh store at path.
func (f fixtureSet) write(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	z := *f.zone
	steps := []func() error{
		func() error { return s.CreateZone(&z) },
		func() error { return s.CreateTemplate(f.template) },
		func() error { return s.CreateNetwork(f.network, nil) },
		func() error { return s.AddPortForward(f.forward) },
		func() error { return s.PutOperation(f.operation) },
		func() error { return s.CreatePool(f.pool) },
		func() error { return s.CreateSnapshot(f.snapshot) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteFixture(t *testing.T) {
	if !*writeFixture {
		t.Skip("rewrites testdata/v1.db only with -write-fixture")
	}
	if err := os.MkdirAll(filepath.Dir(fixturePath), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "v1.db")
	fixtureRecords().write(t, tmp)
	data, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixturePath, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFixtureSetsEveryField keeps the fixture honest: a record field
// added later must be set in fixtureRecords too, or this fails.
func TestFixtureSetsEveryField(t *testing.T) {
	f := fixtureRecords()
	for name, v := range map[string]any{
		"zone": f.zone, "template": f.template, "network": f.network, "forward": f.forward,
		"operation": f.operation, "pool": f.pool, "snapshot": f.snapshot,
	} {
		for _, path := range zeroFields(reflect.ValueOf(v), name) {
			t.Errorf("fixture leaves %s unset", path)
		}
	}
}

// zeroFields lists the struct fields under v that hold their zero value;
// it does not look inside the OCI spec, which is not ours, nor a time.
func zeroFields(v reflect.Value, path string) []string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return []string{path}
		}
		v = v.Elem()
	}
	if leaf := v.Type() == reflect.TypeOf(specs.Spec{}) || v.Type() == reflect.TypeOf(time.Time{}); leaf || v.Kind() != reflect.Struct {
		if v.IsZero() {
			return []string{path}
		}
		return nil
	}
	var out []string
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Slice && fv.Len() > 0 && f.Type.Elem().Kind() == reflect.Struct:
			out = append(out, zeroFields(fv.Index(0), path+"."+f.Name+"[0]")...)
		case f.Anonymous || f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Pointer:
			out = append(out, zeroFields(fv, path+"."+f.Name)...)
		case fv.IsZero():
			out = append(out, path+"."+f.Name)
		}
	}
	return out
}

// TestV1FixtureOpens opens the store file written by the code of
// December 2026 and reads every record back as that code wrote it.
func TestV1FixtureOpens(t *testing.T) {
	data, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "zoned.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if q, err := s.Quarantined(); err != nil || len(q) > 0 {
		t.Fatalf("quarantined %v (err %v): a record of the fixture no longer decodes", q, err)
	}
	want := fixtureRecords()
	check := func(kind string, got any, err error, want any) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s read back as\n%+v\nwant\n%+v", kind, got, want)
		}
	}
	z, err := s.GetZone("web1")
	check("zone", z, err, want.zone)
	tm, err := s.GetTemplate("bookworm")
	check("template", tm, err, want.template)
	n, err := s.GetNetwork("lan")
	check("network", n, err, want.network)
	pfs, err := s.ListPortForwards()
	check("port forwards", pfs, err, []*api.PortForward{&want.forward})
	op, err := s.GetOperation("op-1")
	check("operation", op, err, want.operation)
	pools, err := s.ListPools()
	check("pools", pools, err, []*PoolRecord{want.pool})
	snap, err := s.GetSnapshot("web1", "before-upgrade")
	check("snapshot", snap, err, want.snapshot)
}
