package store

// The records' form on disk. The exported record types (ZoneRecord, …)
// are what the rest of zoned works with; what bbolt holds are the types
// below, with their own JSON names, and the conversions between the two
// are in this file and nowhere else. So renaming a field of an api type
// (its JSON name is the wire's contract, not the database's) cannot
// change what a data directory holds: the conversion stops compiling,
// or keeps writing the old name. A change of a name below is a change of
// the schema and needs a migration (store.go) and a new fixture
// (fixture_test.go).

import (
	"encoding/json"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/api"
)

// kind ties a bucket to its record type R and R's disk form D.
type kind[R, D any] struct {
	bucket []byte
	toDisk func(*R) *D
	toRec  func(*D) *R
}

var (
	zoneKind        = kind[ZoneRecord, zoneV1]{bucketZones, zoneToDisk, (*zoneV1).record}
	templateKind    = kind[TemplateRecord, templateV1]{bucketTemplates, templateToDisk, (*templateV1).record}
	networkKind     = kind[NetworkRecord, networkV1]{bucketNetworks, networkToDisk, (*networkV1).record}
	portForwardKind = kind[api.PortForward, portForwardV1]{bucketPortForwards, portForwardToDisk, (*portForwardV1).record}
	operationKind   = kind[api.Operation, operationV1]{bucketOperations, operationToDisk, (*operationV1).record}
	poolKind        = kind[PoolRecord, poolV1]{bucketPools, poolToDisk, (*poolV1).record}
	snapshotKind    = kind[SnapshotRecord, snapshotV1]{bucketSnapshots, snapshotToDisk, (*snapshotV1).record}
	clientKind      = kind[TrustedClient, clientV1]{bucketClients, clientToDisk, (*clientV1).record}
	tokenKind       = kind[EnrolToken, tokenV1]{bucketTokens, tokenToDisk, (*tokenV1).record}
)

// decode turns a stored value into a record. Unmarshal copies everything
// out of data, which dies with its transaction.
func (k kind[R, D]) decode(data []byte) (*R, error) {
	d := new(D)
	if err := json.Unmarshal(data, d); err != nil {
		return nil, err
	}
	return k.toRec(d), nil
}

// check says whether data decodes as this kind's record (the open-time
// quarantine, open.go).
func (k kind[R, D]) check(data []byte) error {
	_, err := k.decode(data)
	return err
}

// get decodes key's record in tx; nil, nil when absent.
func (k kind[R, D]) get(tx *bolt.Tx, key string) (*R, error) {
	data := bucket(tx, k.bucket).Get([]byte(key))
	if data == nil {
		return nil, nil
	}
	rec, err := k.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s %q: %w", k.bucket, key, err)
	}
	return rec, nil
}

// put writes rec under key in tx.
func (k kind[R, D]) put(tx *bolt.Tx, key string, rec *R) error {
	data, err := json.Marshal(k.toDisk(rec))
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", k.bucket, key, err)
	}
	return bucket(tx, k.bucket).Put([]byte(key), data)
}

// each decodes every record in tx, in key order.
func (k kind[R, D]) each(tx *bolt.Tx, fn func(key []byte, rec *R) error) error {
	return bucket(tx, k.bucket).ForEach(func(key, v []byte) error {
		rec, err := k.decode(v)
		if err != nil {
			return fmt.Errorf("decode %s %q: %w", k.bucket, key, err)
		}
		return fn(key, rec)
	})
}

// list decodes every record, in key order.
func (k kind[R, D]) list(s *Store) ([]*R, error) {
	var out []*R
	err := s.db.View(func(tx *bolt.Tx) error {
		return k.each(tx, func(_ []byte, rec *R) error {
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

type zoneV1 struct {
	Name                  string            `json:"name"`
	UUID                  string            `json:"uuid"`
	Template              string            `json:"template"`
	Hostname              string            `json:"hostname"`
	Autostart             bool              `json:"autostart"`
	AutostartPriority     int               `json:"autostart_priority,omitempty"`
	AutostartDelaySeconds int               `json:"autostart_delay_seconds,omitempty"`
	Resources             resourcesV1       `json:"resources"`
	Spec                  *specs.Spec       `json:"spec,omitempty"`
	State                 string            `json:"state"`
	InitPID               int               `json:"init_pid,omitempty"`
	InitStartTime         uint64            `json:"init_start_time,omitempty"`
	CgroupPath            string            `json:"cgroup_path,omitempty"`
	CreatedAt             time.Time         `json:"created_at"`
	StartedAt             *time.Time        `json:"started_at,omitempty"`
	LastExit              string            `json:"last_exit,omitempty"`
	QuotaHits             uint64            `json:"quota_hits,omitempty"`
	Privileged            bool              `json:"privileged,omitempty"`
	Devices               []string          `json:"devices,omitempty"`
	IDMapBase             uint32            `json:"idmap_base,omitempty"`
	IDMapSize             uint32            `json:"idmap_size,omitempty"`
	Pool                  string            `json:"pool,omitempty"`
	NICs                  []nicV1           `json:"nics,omitempty"`
	DNS                   []string          `json:"dns,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
	Revision              uint64            `json:"revision"`
}

// The OCI spec is stored as the runtime-spec defines it: a standard of
// its own, versioned by its Version field, not zoned's wire.

func zoneToDisk(r *ZoneRecord) *zoneV1 {
	d := &zoneV1{
		Name: r.Name, UUID: r.UUID, Template: r.Template, Hostname: r.Hostname, Autostart: r.Autostart,
		AutostartPriority: r.AutostartPriority, AutostartDelaySeconds: r.AutostartDelaySeconds,
		Resources: resourcesToDisk(r.Resources), Spec: r.Spec, State: string(r.State),
		InitPID: r.InitPID, InitStartTime: r.InitStartTime, CgroupPath: r.CgroupPath,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, LastExit: r.LastExit, QuotaHits: r.QuotaHits,
		Privileged: r.Privileged, Devices: r.Devices, IDMapBase: r.IDMapBase, IDMapSize: r.IDMapSize,
		Pool: r.Pool, DNS: r.DNS, Labels: r.Labels, Revision: r.Revision,
	}
	for _, n := range r.NICs {
		d.NICs = append(d.NICs, nicToDisk(n))
	}
	return d
}

func (d *zoneV1) record() *ZoneRecord {
	r := &ZoneRecord{
		Name: d.Name, UUID: d.UUID, Template: d.Template, Hostname: d.Hostname, Autostart: d.Autostart,
		AutostartPriority: d.AutostartPriority, AutostartDelaySeconds: d.AutostartDelaySeconds,
		Resources: d.Resources.record(), Spec: d.Spec, State: api.ZoneState(d.State),
		InitPID: d.InitPID, InitStartTime: d.InitStartTime, CgroupPath: d.CgroupPath,
		CreatedAt: d.CreatedAt, StartedAt: d.StartedAt, LastExit: d.LastExit, QuotaHits: d.QuotaHits,
		Privileged: d.Privileged, Devices: d.Devices, IDMapBase: d.IDMapBase, IDMapSize: d.IDMapSize,
		Pool: d.Pool, DNS: d.DNS, Labels: d.Labels, Revision: d.Revision,
	}
	for _, n := range d.NICs {
		r.NICs = append(r.NICs, n.record())
	}
	return r
}

// zoneRefsV1 is the part of zoneV1 that scans over every zone read
// (which zones use a template or a pool, which ID ranges are taken):
// decoding only these fields skips the spec, most of a record's bytes.
type zoneRefsV1 struct {
	Template  string `json:"template"`
	Pool      string `json:"pool,omitempty"`
	IDMapBase uint32 `json:"idmap_base,omitempty"`
	IDMapSize uint32 `json:"idmap_size,omitempty"`
}

func decodeZoneRefs(data []byte) (*zoneRefsV1, error) {
	r := new(zoneRefsV1)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

type resourcesV1 struct {
	MemoryBytes     int64  `json:"memory_bytes,omitempty"`
	SwapBytes       int64  `json:"swap_bytes,omitempty"`
	CPUs            string `json:"cpus,omitempty"`
	CPULimitPercent int64  `json:"cpu_limit_percent,omitempty"`
	CPUWeight       uint64 `json:"cpu_weight,omitempty"`
	PidsMax         int64  `json:"pids_max,omitempty"`
	DiskBytes       int64  `json:"disk_bytes,omitempty"`
	DiskInodes      int64  `json:"disk_inodes,omitempty"`
	IOWeight        uint64 `json:"io_weight,omitempty"`
	IOReadBPS       int64  `json:"io_read_bps,omitempty"`
	IOWriteBPS      int64  `json:"io_write_bps,omitempty"`
	IOReadIOPS      int64  `json:"io_read_iops,omitempty"`
	IOWriteIOPS     int64  `json:"io_write_iops,omitempty"`
}

// The two structs have the same fields, so a conversion copies them all
// and stops compiling when one side gains a field the other lacks.
func resourcesToDisk(r api.Resources) resourcesV1 { return resourcesV1(r) }
func (d resourcesV1) record() api.Resources       { return api.Resources(d) }

type nicV1 struct {
	Name              string   `json:"name"`
	Network           string   `json:"network"`
	IPv4              []string `json:"ipv4,omitempty"`
	IPv6              []string `json:"ipv6,omitempty"`
	Gateway           string   `json:"gateway,omitempty"`
	MAC               string   `json:"mac"`
	MTU               int      `json:"mtu,omitempty"`
	VLAN              int      `json:"vlan,omitempty"`
	RateBitsPerSecond int64    `json:"rate_bps,omitempty"`
	HostIfName        string   `json:"host_ifname,omitempty"`
	Pending           string   `json:"pending,omitempty"`
}

func nicToDisk(n api.NIC) nicV1 { return nicV1(n) }
func (d nicV1) record() api.NIC { return api.NIC(d) }

type networkV1 struct {
	Name          string    `json:"name"`
	Type          string    `json:"type,omitempty"`
	Subnet        string    `json:"subnet,omitempty"`
	Gateway       string    `json:"gateway,omitempty"`
	NAT           bool      `json:"nat,omitempty"`
	VLANFiltering bool      `json:"vlan_filtering,omitempty"`
	Uplink        string    `json:"uplink,omitempty"`
	Parent        string    `json:"parent,omitempty"`
	VNI           int       `json:"vni,omitempty"`
	Remote        string    `json:"remote,omitempty"`
	Group         string    `json:"group,omitempty"`
	Dev           string    `json:"dev,omitempty"`
	DNS           []string  `json:"dns,omitempty"`
	MTU           int       `json:"mtu,omitempty"`
	HostAccess    string    `json:"host_access,omitempty"`
	Bridge        string    `json:"bridge,omitempty"`
	UsedBy        []string  `json:"used_by,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// networkFields is networkV1 without CreatedAt: the shape of api.Network,
// so the conversion is checked by the compiler as resources' is.
type networkFields struct {
	Name, Type, Subnet, Gateway string
	NAT, VLANFiltering          bool
	Uplink, Parent              string
	VNI                         int
	Remote, Group, Dev          string
	DNS                         []string
	MTU                         int
	HostAccess, Bridge          string
	UsedBy                      []string
}

func networkToDisk(r *NetworkRecord) *networkV1 {
	f := networkFields(r.Network)
	return &networkV1{
		Name: f.Name, Type: f.Type, Subnet: f.Subnet, Gateway: f.Gateway, NAT: f.NAT,
		VLANFiltering: f.VLANFiltering, Uplink: f.Uplink, Parent: f.Parent, VNI: f.VNI,
		Remote: f.Remote, Group: f.Group, Dev: f.Dev, DNS: f.DNS, MTU: f.MTU,
		HostAccess: f.HostAccess, Bridge: f.Bridge, UsedBy: f.UsedBy, CreatedAt: r.CreatedAt,
	}
}

func (d *networkV1) record() *NetworkRecord {
	f := networkFields{
		Name: d.Name, Type: d.Type, Subnet: d.Subnet, Gateway: d.Gateway, NAT: d.NAT,
		VLANFiltering: d.VLANFiltering, Uplink: d.Uplink, Parent: d.Parent, VNI: d.VNI,
		Remote: d.Remote, Group: d.Group, Dev: d.Dev, DNS: d.DNS, MTU: d.MTU,
		HostAccess: d.HostAccess, Bridge: d.Bridge, UsedBy: d.UsedBy,
	}
	return &NetworkRecord{Network: api.Network(f), CreatedAt: d.CreatedAt}
}

type portForwardV1 struct {
	Zone     string `json:"zone,omitempty"`
	HostPort int    `json:"host_port"`
	ZonePort int    `json:"zone_port"`
	Protocol string `json:"protocol,omitempty"`
	Address  string `json:"address,omitempty"`
}

func portForwardToDisk(p *api.PortForward) *portForwardV1 { v := portForwardV1(*p); return &v }
func (d *portForwardV1) record() *api.PortForward         { v := api.PortForward(*d); return &v }

type operationV1 struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Target    string    `json:"target"`
	Status    string    `json:"status"`
	Progress  int       `json:"progress"`
	Message   string    `json:"message,omitempty"`
	Err       *errorV1  `json:"error,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type errorV1 struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func operationToDisk(o *api.Operation) *operationV1 {
	d := &operationV1{
		ID: o.ID, Kind: o.Kind, Target: o.Target, Status: string(o.Status), Progress: o.Progress,
		Message: o.Message, Outcome: o.Outcome, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	if o.Err != nil {
		e := errorV1(*o.Err)
		d.Err = &e
	}
	return d
}

func (d *operationV1) record() *api.Operation {
	o := &api.Operation{
		ID: d.ID, Kind: d.Kind, Target: d.Target, Status: api.OperationStatus(d.Status), Progress: d.Progress,
		Message: d.Message, Outcome: d.Outcome, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if d.Err != nil {
		e := api.Error(*d.Err)
		o.Err = &e
	}
	return o
}

type templateV1 struct {
	Name      string    `json:"name"`
	Source    string    `json:"source"`
	Suite     string    `json:"suite,omitempty"`
	Include   []string  `json:"include,omitempty"`
	Init      string    `json:"init"`
	State     string    `json:"state"`
	SizeBytes int64     `json:"size_bytes"`
	CreatedAt time.Time `json:"created_at"`
}

func templateToDisk(r *TemplateRecord) *templateV1 { d := templateV1(*r); return &d }
func (d *templateV1) record() *TemplateRecord      { r := TemplateRecord(*d); return &r }

type poolV1 struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Backend   string    `json:"backend"`
	CreatedAt time.Time `json:"created_at"`
}

func poolToDisk(r *PoolRecord) *poolV1 { d := poolV1(*r); return &d }
func (d *poolV1) record() *PoolRecord  { r := PoolRecord(*d); return &r }

type snapshotV1 struct {
	Zone      string    `json:"zone"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Running   bool      `json:"running,omitempty"`
	SizeBytes int64     `json:"size_bytes"`
}

func snapshotToDisk(r *SnapshotRecord) *snapshotV1 { d := snapshotV1(*r); return &d }
func (d *snapshotV1) record() *SnapshotRecord      { r := SnapshotRecord(*d); return &r }

type scopeV1 struct {
	ReadOnly       bool              `json:"read_only,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	MaxMemoryBytes int64             `json:"max_memory_bytes,omitempty"`
	MaxCPUPercent  int64             `json:"max_cpu_percent,omitempty"`
	MaxDiskBytes   int64             `json:"max_disk_bytes,omitempty"`
}

type clientV1 struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	CertPEM     []byte    `json:"cert_pem"`
	Scope       scopeV1   `json:"scope"`
	AddedAt     time.Time `json:"added_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func clientToDisk(c *TrustedClient) *clientV1 {
	return &clientV1{Name: c.Name, Fingerprint: c.Fingerprint, CertPEM: c.CertPEM, Scope: scopeV1(c.Scope), AddedAt: c.AddedAt, ExpiresAt: c.ExpiresAt}
}

func (d *clientV1) record() *TrustedClient {
	return &TrustedClient{Name: d.Name, Fingerprint: d.Fingerprint, CertPEM: d.CertPEM, Scope: Scope(d.Scope), AddedAt: d.AddedAt, ExpiresAt: d.ExpiresAt}
}

type tokenV1 struct {
	Hash      string    `json:"hash"`
	Name      string    `json:"name"`
	Scope     scopeV1   `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func tokenToDisk(t *EnrolToken) *tokenV1 {
	return &tokenV1{Hash: t.Hash, Name: t.Name, Scope: scopeV1(t.Scope), CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

func (d *tokenV1) record() *EnrolToken {
	return &EnrolToken{Hash: d.Hash, Name: d.Name, Scope: Scope(d.Scope), CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt}
}
