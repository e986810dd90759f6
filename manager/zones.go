//go:build linux

package manager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/quota"
	"github.com/zoned-project/zoned/store"
)

// stopSignalAnnotation records in the zone's spec which signal asks its
// init to shut down, found from the template's init at create time.
const stopSignalAnnotation = "org.zoned.stop-signal"

// initKindAnnotation records which init the template has.
const initKindAnnotation = "org.zoned.init"

// CreateZone creates a stopped zone: store record (creating), its own
// layer over the template, identity files, then state stopped. A failure
// at any step undoes the earlier ones.
func (m *Manager) CreateZone(ctx context.Context, req api.CreateZoneRequest) (*api.Zone, error) {
	return m.createZone(ctx, req, nil)
}

// createZone is CreateZone; fill, when set, fills the zone's fresh layer
// (a clone's copy, an import) before the zone gets its identity.
func (m *Manager) createZone(ctx context.Context, req api.CreateZoneRequest, fill func(rec *store.ZoneRecord) error) (_ *api.Zone, err error) {
	if err := validNewZoneName(req.Name); err != nil {
		return nil, errdefs.WithField("name", err)
	}
	if req.Template == "" {
		req.Template = BuiltinTemplate
	}
	if err := validate.Name("template", req.Template); err != nil {
		return nil, errdefs.WithField("template", err)
	}
	if req.Hostname == "" {
		req.Hostname = req.Name
	}
	if err := validate.Hostname(req.Hostname); err != nil {
		return nil, errdefs.WithField("hostname", err)
	}
	if err := cgroups.Validate(req.Resources); err != nil {
		return nil, errdefs.WithField("resources", err)
	}
	devices, err := optionalDevices(req.Devices)
	if err != nil {
		return nil, errdefs.WithField("devices", err)
	}
	if err := validateAutostart(&req.AutostartPriority, &req.AutostartDelaySeconds); err != nil {
		return nil, err
	}
	if _, err := m.roots.Pool(req.Pool); err != nil {
		return nil, errdefs.WithField("pool", err)
	}
	for _, p := range m.parts {
		if err := p.ValidateCreate(ctx, &req); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("create zone %q: %w", req.Name, err)
		}
	}()

	if req.Template == BuiltinTemplate {
		if _, err := m.ensureBuiltin(ctx); err != nil {
			return nil, errdefs.WithField("template", err)
		}
	}
	m.tmplMu.RLock()
	defer m.tmplMu.RUnlock()
	tmpl, err := m.readyTemplate(ctx, req.Template)
	if err != nil {
		return nil, errdefs.WithField("template", err)
	}

	unlock := m.lock(req.Name)
	defer unlock()

	r := revert.New()
	defer r.Fail()

	rec := &store.ZoneRecord{
		Name:                  req.Name,
		UUID:                  newUUID(),
		Template:              tmpl.Name,
		Hostname:              req.Hostname,
		Autostart:             req.Autostart,
		AutostartPriority:     req.AutostartPriority,
		AutostartDelaySeconds: req.AutostartDelaySeconds,
		Resources:             req.Resources,
		State:                 api.StateCreating,
		CreatedAt:             time.Now().UTC(),
		Privileged:            req.Privileged,
		Devices:               req.Devices,
		Pool:                  poolName(req.Pool),
	}
	if req.Privileged {
		err = m.store.CreateZone(rec)
	} else {
		// The zone's share of host IDs is taken with the record, in one
		// transaction; destroying the zone deletes the record and so
		// frees the range.
		err = m.store.CreateZoneWithIDMap(rec, m.cfg.IDMapBase, IDMapSize)
	}
	if err != nil {
		return nil, errdefs.WithField("name", err)
	}
	r.Add(func() { _ = m.store.DeleteZone(req.Name) })

	vol, err := m.volume(rec)
	if err != nil {
		return nil, errdefs.WithField("pool", err)
	}
	// The disk quota is made with the layer, so nothing the zone ever
	// writes is outside it.
	if err := vol.Create(tmpl.Name, quota.Limits{Bytes: req.Resources.DiskBytes, Inodes: req.Resources.DiskInodes}); err != nil {
		return nil, fmt.Errorf("create root: %w", err)
	}
	r.Add(func() {
		if err := vol.Delete(); err != nil {
			m.log.Warn("undo the zone's root", "zone", req.Name, "err", err)
		}
	})
	if !req.Privileged {
		if err := vol.MapIDs(rec.IDMapBase); err != nil {
			return nil, err
		}
	}
	if fill != nil {
		if err := fill(rec); err != nil {
			return nil, err
		}
	}

	// The zone's identity lives in its own layer: its hostname and a
	// machine-id of its own (systemd and D-Bus key state on it).
	machineID := randomHex(16)
	for _, f := range []struct{ path, data string }{
		{"/etc/hostname", req.Hostname + "\n"},
		{"/etc/machine-id", machineID + "\n"},
	} {
		if err := vol.WriteFile(f.path, []byte(f.data), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.path, err)
		}
	}

	initInfo, err := m.roots.DetectInit(tmpl.Name)
	if err != nil {
		return nil, fmt.Errorf("find the template's init: %w", err)
	}
	// The zone runs /sbin/init by that name, not the file it resolves to:
	// multi-call inits (busybox, systemd's compat links) dispatch on argv[0].
	spec := namespaces.DefaultSpec(req.Name, req.Hostname, []string{"/sbin/init"})
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	spec.Annotations[stopSignalAnnotation] = strconv.Itoa(int(initInfo.StopSignal))
	spec.Annotations[initKindAnnotation] = initInfo.Kind
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	spec.Linux.CgroupsPath = m.cgroupPath(req.Name)
	spec.Linux.Devices = devices
	spec.Linux.Resources = cgroups.ToSpec(req.Resources)
	cgroups.AllowDevices(spec.Linux.Resources, devices)
	if err := m.setBlockIO(req.Name, req.Resources, spec.Linux.Resources); err != nil {
		return nil, err
	}
	if !req.Privileged {
		namespaces.SetUserNamespace(spec, rec.IDMapBase, rec.IDMapSize)
		// Refuse now, not at every start, a zone this host cannot run
		// unprivileged (no idmapped mounts for the template, or an old
		// overlayfs): the operator may choose a privileged zone instead.
		if err := m.probeRootOnce(rec.Pool, tmpl.Name, func() error {
			return m.rt.ProbeIDMappedRoot(spec, vol.RootMount(tmpl.Name))
		}); err != nil {
			return nil, errdefs.WithField("privileged", fmt.Errorf("this host cannot run unprivileged zones: %w (create a privileged zone to run without a user namespace)", err))
		}
	}

	rec.Spec = spec
	rec.CgroupPath = spec.Linux.CgroupsPath
	for _, p := range m.parts {
		if err := p.Create(ctx, rec, &req, r); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
	}
	saved, err := m.store.UpdateZone(req.Name, func(z *store.ZoneRecord) error {
		*z = *rec
		z.State = api.StateStopped
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Success()
	m.log.Info("zone created", "zone", req.Name, "template", tmpl.Name, "init", initInfo.Kind)
	m.emit(api.EventZoneCreated, req.Name, saved.State, "")
	return m.toAPI(saved, false), nil
}

// DestroyZone removes a zone and everything it holds. A running zone is
// refused unless force is set, in which case it is killed first.
func (m *Manager) DestroyZone(ctx context.Context, name string, force bool) error {
	return m.withZone("destroy", name, func(rec *store.ZoneRecord) error {
		if rec.State == api.StateRunning || m.isRunning(name) {
			if !force {
				return fmt.Errorf("zone is running; stop it first or destroy with force: %w", errdefs.ErrConflict)
			}
			if _, err := m.stopLocked(ctx, rec, api.StopRequest{Force: true}); err != nil {
				return err
			}
		}
		if _, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
			z.State = api.StateDestroying
			return nil
		}); err != nil {
			return err
		}
		if err := m.finishDestroy(name); err != nil {
			return err
		}
		m.log.Info("zone destroyed", "zone", name)
		m.emit(api.EventZoneDestroyed, name, "", "")
		return nil
	})
}

// finishDestroy frees what a zone in state destroying still holds and
// removes its record last, so a crash in between is finished by reconcile.
func (m *Manager) finishDestroy(name string) error {
	if err := m.releaseCgroup(name); err != nil {
		return err
	}
	if err := m.destroyParts(name); err != nil {
		return err
	}
	// The record names the zone's pool; a zone without one any more has
	// only zones/NAME in the data dir left to free.
	rec, err := m.store.GetZone(name)
	if err != nil {
		rec = &store.ZoneRecord{Name: name}
	}
	if err := m.volumeToFree(rec).Delete(); err != nil {
		return fmt.Errorf("delete root: %w", err)
	}
	if err := m.store.DeleteZone(name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	return nil
}

// destroyParts frees what every part holds for the zone, in reverse order.
func (m *Manager) destroyParts(name string) error {
	rec, err := m.store.GetZone(name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(m.parts) - 1; i >= 0; i-- {
		if err := m.parts[i].Destroy(rec); err != nil {
			return fmt.Errorf("%s: %w", m.parts[i].Name(), err)
		}
	}
	return nil
}

// UpdateZone changes a zone's settings. Resource changes apply to a running
// zone at once; the store is written only after the kernel took them, so
// the stored limits are always the ones in force.
func (m *Manager) UpdateZone(ctx context.Context, name string, patch api.ZonePatch) (*api.Zone, error) {
	return m.UpdateZoneIfMatch(ctx, name, 0, patch)
}

// UpdateZoneIfMatch is UpdateZone that refuses, with ErrPrecondition, a
// zone whose record is no longer at revision (0: any revision): a caller
// that read the zone does not overwrite a change made since.
func (m *Manager) UpdateZoneIfMatch(ctx context.Context, name string, revision uint64, patch api.ZonePatch) (*api.Zone, error) {
	var saved *store.ZoneRecord
	err := m.withZone("update", name, func(rec *store.ZoneRecord) (err error) {
		saved, err = m.updateLocked(rec, revision, patch)
		return err
	})
	if err != nil {
		return nil, err
	}
	m.emit(api.EventZoneUpdated, name, saved.State, "")
	return m.toAPI(saved, false), nil
}

// updateLocked is UpdateZoneIfMatch under the zone's lock.
func (m *Manager) updateLocked(rec *store.ZoneRecord, revision uint64, patch api.ZonePatch) (*store.ZoneRecord, error) {
	name := rec.Name
	if err := validateAutostart(patch.AutostartPriority, patch.AutostartDelaySeconds); err != nil {
		return nil, err
	}
	if err := ValidateLabels(patch.Labels); err != nil {
		return nil, errdefs.WithField("labels", err)
	}
	if revision != 0 && rec.Revision != revision {
		return nil, fmt.Errorf("zone is at revision %d, not %d as If-Match says: read it again: %w", rec.Revision, revision, errdefs.ErrPrecondition)
	}
	res := rec.Resources
	if p := patch.Resources; p != nil {
		if p.MemoryBytes != nil {
			res.MemoryBytes = *p.MemoryBytes
		}
		if p.SwapBytes != nil {
			res.SwapBytes = *p.SwapBytes
		}
		if p.CPUs != nil {
			res.CPUs = *p.CPUs
		}
		if p.CPULimitPercent != nil {
			res.CPULimitPercent = *p.CPULimitPercent
		}
		if p.CPUWeight != nil {
			res.CPUWeight = *p.CPUWeight
		}
		if p.PidsMax != nil {
			res.PidsMax = *p.PidsMax
		}
		applyIOPatch(&res, p)
	}
	if err := cgroups.Validate(res); err != nil {
		return nil, errdefs.WithField("resources", err)
	}
	if err := m.updateParts(rec, &res, patch.Resources); err != nil {
		return nil, err
	}
	specRes := cgroups.ToSpec(res)
	if rec.Spec != nil && rec.Spec.Linux != nil {
		cgroups.AllowDevices(specRes, rec.Spec.Linux.Devices)
	}
	if err := m.setBlockIO(name, res, specRes); err != nil {
		return nil, err
	}
	if rec.State == api.StateRunning {
		cg, err := m.cg.Load(m.cgroupPath(name))
		if err != nil {
			return nil, fmt.Errorf("load cgroup: %w", err)
		}
		if err := cg.Update(specRes); err != nil {
			return nil, fmt.Errorf("apply limits: %w", err)
		}
	}
	saved, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.Resources = res
		if z.Spec != nil && z.Spec.Linux != nil {
			z.Spec.Linux.Resources = specRes
		}
		if patch.Autostart != nil {
			z.Autostart = *patch.Autostart
		}
		if patch.AutostartPriority != nil {
			z.AutostartPriority = *patch.AutostartPriority
		}
		if patch.AutostartDelaySeconds != nil {
			z.AutostartDelaySeconds = *patch.AutostartDelaySeconds
		}
		if patch.Labels != nil {
			z.Labels = patch.Labels
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return saved, nil
}

// GetZone returns one zone, with its spec and usage.
func (m *Manager) GetZone(ctx context.Context, name string) (*api.Zone, error) {
	if err := validate.Name("zone", name); err != nil {
		return nil, err
	}
	rec, err := m.store.GetZone(name)
	if err != nil {
		return nil, fmt.Errorf("zone %q: %w", name, err)
	}
	return m.toAPI(rec, true), nil
}

// ListZones returns all zones, with usage for running ones.
func (m *Manager) ListZones(ctx context.Context) ([]api.Zone, error) {
	recs, err := m.store.ListZoneSummaries()
	if err != nil {
		return nil, err
	}
	out := make([]api.Zone, 0, len(recs))
	for _, rec := range recs {
		out = append(out, *m.toAPI(rec, false))
	}
	return out, nil
}

func (m *Manager) toAPI(rec *store.ZoneRecord, withSpec bool) *api.Zone {
	z := &api.Zone{
		Name:                  rec.Name,
		UUID:                  rec.UUID,
		State:                 rec.State,
		Template:              rec.Template,
		Hostname:              rec.Hostname,
		Autostart:             rec.Autostart,
		AutostartPriority:     rec.AutostartPriority,
		AutostartDelaySeconds: rec.AutostartDelaySeconds,
		Resources:             rec.Resources,
		CreatedAt:             rec.CreatedAt,
		Revision:              rec.Revision,
		StartedAt:             rec.StartedAt,
		LastExit:              rec.LastExit,
		// Records from before user namespaces have no range: they
		// run privileged, and say so.
		Privileged: rec.IDMapSize == 0,
		Devices:    rec.Devices,
		NICs:       rec.NICs, DNS: rec.DNS,
		Labels: rec.Labels,
		Pool:   poolName(rec.Pool),
	}
	if rec.IDMapSize > 0 {
		z.IDMap = &api.IDMap{HostID: rec.IDMapBase, Size: rec.IDMapSize}
	}
	if rec.State == api.StateRunning {
		z.InitPID = rec.InitPID
		// ReadUsage, not Load or ReadStats: lists of many zones must
		// not parse the mount table once per zone, nor read a dozen
		// files per zone for four figures.
		if st, err := m.cg.ReadUsage(m.cgroupPath(rec.Name)); err == nil {
			z.Usage = &api.Usage{
				MemoryBytes:      st.MemoryUsage,
				MemoryLimitBytes: st.MemoryLimit,
				Processes:        st.Pids,
				CPUNanos:         st.CPUUsageNanos,
			}
		}
	}
	z.Warnings = m.zoneWarnings(rec.Name)
	if withSpec {
		z.Spec = rec.Spec
	}
	return z
}

func stopSignal(rec *store.ZoneRecord) syscall.Signal {
	if rec.Spec != nil {
		if s, err := strconv.Atoi(rec.Spec.Annotations[stopSignalAnnotation]); err == nil && s > 0 {
			return syscall.Signal(s)
		}
	}
	return syscall.SIGTERM
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// optionalDevices turns the device names a zone asks for into nodes,
// refusing unknown and repeated names.
func optionalDevices(names []string) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	seen := map[string]bool{}
	for _, n := range names {
		d, ok := namespaces.OptionalDevice(n)
		if !ok {
			return nil, fmt.Errorf("device %q is not one zoned can give a zone (known: %s): %w", n, strings.Join(namespaces.OptionalDeviceNames(), ", "), errdefs.ErrInvalid)
		}
		if seen[n] {
			return nil, fmt.Errorf("device %q is listed twice: %w", n, errdefs.ErrInvalid)
		}
		seen[n] = true
		out = append(out, d)
	}
	return out, nil
}

// Bounds of the autostart settings: wide enough for any ordering a host
// needs, narrow enough that a typo cannot stall a host's boot for days.
const (
	maxAutostartPriority     = 1000
	maxAutostartDelaySeconds = 3600
)

// validateAutostart checks the autostart settings a create or update
// gives (nil: not given).
// validNewZoneName checks the name of a zone about to be made: a valid
// name that is not a word of the API's routes.
func validNewZoneName(name string) error {
	if err := validate.Name("zone", name); err != nil {
		return err
	}
	if slices.Contains(api.ReservedZoneNames, name) {
		return fmt.Errorf("zone name %q is reserved: /v1/zones/%s is an API route, so the zone could not be reached; choose another name: %w", name, name, errdefs.ErrInvalid)
	}
	return nil
}

func validateAutostart(priority, delaySeconds *int) error {
	if priority != nil && (*priority < -maxAutostartPriority || *priority > maxAutostartPriority) {
		return errdefs.WithField("autostart_priority", fmt.Errorf("autostart priority %d is outside -%d..%d: %w", *priority, maxAutostartPriority, maxAutostartPriority, errdefs.ErrInvalid))
	}
	if delaySeconds != nil && (*delaySeconds < 0 || *delaySeconds > maxAutostartDelaySeconds) {
		return errdefs.WithField("autostart_delay_seconds", fmt.Errorf("autostart delay %d s is outside 0..%d: %w", *delaySeconds, maxAutostartDelaySeconds, errdefs.ErrInvalid))
	}
	return nil
}
