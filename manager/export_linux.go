package manager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/internal/grant"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/store"
)

// exportConfig is the zone's configuration in an export archive: what a
// create request needs to make the zone again. NICs are left out: they
// belong to the host the zone ran on.
type exportConfig struct {
	Name                  string            `json:"name"`
	Template              string            `json:"template"`
	Hostname              string            `json:"hostname"`
	Resources             api.Resources     `json:"resources"`
	Privileged            bool              `json:"privileged,omitempty"`
	Devices               []string          `json:"devices,omitempty"`
	Autostart             bool              `json:"autostart,omitempty"`
	AutostartPriority     int               `json:"autostart_priority,omitempty"`
	AutostartDelaySeconds int               `json:"autostart_delay_seconds,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
}

// ExportZone starts writing the zone to an archive on the daemon's host
// and returns the operation. A running zone is frozen while its layer is
// read; a full export of an overlay zone needs it stopped.
func (m *Manager) ExportZone(ctx context.Context, name string, req api.ExportZoneRequest) (*api.Operation, error) {
	if err := validate.Name("zone", name); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(req.Path) {
		return nil, errdefs.WithField("path", fmt.Errorf("export path %q must be absolute: %w", req.Path, errdefs.ErrInvalid))
	}
	if _, err := os.Lstat(req.Path); err == nil {
		return nil, errdefs.WithField("path", fmt.Errorf("%s exists: %w", req.Path, errdefs.ErrAlreadyExists))
	}
	if fi, err := os.Stat(filepath.Dir(req.Path)); err != nil || !fi.IsDir() {
		return nil, errdefs.WithField("path", fmt.Errorf("directory of %s: %w", req.Path, errdefs.ErrInvalid))
	}
	if _, err := m.store.GetZone(name); err != nil {
		return nil, fmt.Errorf("export zone %q: %w", name, err)
	}
	// Cancellable: the partial file goes with the error.
	return m.ops.startCtx("zone-export", name, func(ctx context.Context, progress func(int, string)) error {
		return m.withZone("export", name, func(rec *store.ZoneRecord) error {
			return m.exportLocked(ctx, rec, req, progress)
		})
	}), nil
}

func (m *Manager) exportLocked(ctx context.Context, rec *store.ZoneRecord, req api.ExportZoneRequest, progress func(int, string)) error {
	switch rec.State {
	case api.StateRunning:
		if p, _ := m.fs.Pool(rec.Pool); req.Full && p.FullExportNeedsStop() {
			return fmt.Errorf("a full export of an overlay zone needs it stopped: %w", errdefs.ErrConflict)
		}
	case api.StateStopped:
	default:
		return fmt.Errorf("zone is %s: %w", rec.State, errdefs.ErrConflict)
	}
	cfg, err := json.Marshal(exportConfig{
		Name: rec.Name, Template: rec.Template, Hostname: rec.Hostname, Resources: rec.Resources,
		Privileged: rec.IDMapSize == 0, Devices: rec.Devices, Autostart: rec.Autostart,
		AutostartPriority: rec.AutostartPriority, AutostartDelaySeconds: rec.AutostartDelaySeconds, Labels: rec.Labels,
	})
	if err != nil {
		return err
	}
	// Written beside the target and linked into place when complete: a
	// failed export leaves no file that looks like an archive.
	f, err := os.CreateTemp(filepath.Dir(req.Path), ".zoned-export-*")
	if err != nil {
		return errdefs.WithField("path", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// A daemon killed from here on leaves the partial file: the note
	// names it for restartExport.
	note := m.exportNote(rec.Name)
	if err := os.MkdirAll(filepath.Dir(note), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(note, []byte(f.Name()), 0o600); err != nil {
		return err
	}
	defer os.Remove(note)
	progress(10, "writing "+req.Path)
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	var kind string
	err = m.frozenIf(rec.State == api.StateRunning, rec.Name, func() (err error) {
		v, err := m.fsVolume(rec)
		if err != nil {
			return err
		}
		kind, err = v.Export(ctx, rec.Template, req.Full, cfg, cw)
		return err
	})
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Link(f.Name(), req.Path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return errdefs.WithField("path", fmt.Errorf("%s exists: %w", req.Path, errdefs.ErrAlreadyExists))
		}
		return err
	}
	progress(100, fmt.Sprintf("exported %s (%s, %d bytes, sha256 %s)", req.Path, kind, cw.n, hex.EncodeToString(h.Sum(nil))))
	m.log.Info("zone exported", "zone", rec.Name, "path", req.Path, "kind", kind, "bytes", cw.n)
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ImportZone starts making a zone from an export archive on the daemon's
// host and returns the operation. A layer archive needs its template here;
// a full one brings its root, which becomes the template NAME-root. A bad
// or truncated archive leaves no zone and no template.
//
// The archive is customer data, and its manifest's sha256 is its own: it
// proves the archive whole, not that zoned wrote it. So the zone gets
// what req grants (grant.Limit), the archive's wishes beyond that are
// dropped with a warning in the operation's message, and what it unpacks
// is capped by the host's limits and the zone's disk quota.
func (m *Manager) ImportZone(ctx context.Context, req api.ImportZoneRequest) (*api.Operation, error) {
	if !filepath.IsAbs(req.Path) {
		return nil, errdefs.WithField("path", fmt.Errorf("import path %q must be absolute: %w", req.Path, errdefs.ErrInvalid))
	}
	// The grant is checked before the archive is opened: a bad request is
	// the caller's 4xx, whatever the archive holds.
	if err := checkGrant(req); err != nil {
		return nil, err
	}
	f, err := os.Open(req.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.WithField("path", fmt.Errorf("import archive %s (field \"path\") does not exist on the daemon's host: %w", req.Path, errdefs.ErrInvalid))
	}
	if err != nil {
		return nil, errdefs.WithField("path", fmt.Errorf("import archive %s (field \"path\") cannot be opened: %v: %w", req.Path, err, errdefs.ErrInvalid))
	}
	er, err := fsshare.OpenExport(f)
	if err != nil {
		f.Close()
		return nil, errdefs.WithField("path", err)
	}
	// Until the operation owns them, a refusal closes the archive.
	refuse := func(field string, err error) (*api.Operation, error) {
		er.Close()
		f.Close()
		return nil, errdefs.WithField(field, err)
	}
	var cfg exportConfig
	if err := json.Unmarshal(er.Config, &cfg); err != nil {
		return refuse("path", fmt.Errorf("zone configuration in %s: %v: %w", req.Path, err, errdefs.ErrInvalid))
	}
	create, warnings := grant.Limit(cfg.request(), api.CreateZoneRequest{
		Name: req.Name, Template: req.Template, Pool: req.Pool, Privileged: req.Privileged, Devices: req.Devices,
		Resources: req.Resources, Labels: req.Labels, Autostart: req.Autostart,
		AutostartPriority: req.AutostartPriority, AutostartDelaySeconds: req.AutostartDelaySeconds,
	})
	if err := validNewZoneName(create.Name); err != nil {
		return refuse("name", err)
	}
	if _, err := m.store.GetZone(create.Name); err == nil {
		return refuse("name", fmt.Errorf("zone %q: %w", create.Name, errdefs.ErrAlreadyExists))
	}
	if err := m.checkImportTemplate(er.Kind, req.Template, create.Template); err != nil {
		return refuse("template", err)
	}
	idSize := 0
	if !create.Privileged {
		idSize = IDMapSize
	}
	lim := m.fs.ZoneImportLimits(create.Resources.DiskBytes, create.Resources.DiskInodes, idSize)
	// Cancellable: the zone and template made so far are undone.
	return m.ops.startCtx("zone-import", create.Name, func(ctx context.Context, progress func(int, string)) error {
		defer f.Close()
		defer er.Close()
		for _, w := range warnings {
			m.log.Warn("import: archive asked for more than granted", "zone", create.Name, "path", req.Path, "dropped", w)
		}
		err := m.importZone(ctx, create, er, lim, progress)
		if err != nil {
			return fmt.Errorf("import zone %q from %s: %w", create.Name, req.Path, err)
		}
		msg := "imported " + create.Name
		if len(warnings) > 0 {
			msg += "; warning: " + strings.Join(warnings, "; ")
		}
		progress(100, msg)
		return nil
	}), nil
}

// request is what the archive's configuration asks a zone to be: hints
// for grant.Limit, never grants.
func (c exportConfig) request() api.CreateZoneRequest {
	return api.CreateZoneRequest{
		Name: c.Name, Template: c.Template, Hostname: c.Hostname, Resources: c.Resources,
		Privileged: c.Privileged, Devices: c.Devices, Autostart: c.Autostart,
		AutostartPriority: c.AutostartPriority, AutostartDelaySeconds: c.AutostartDelaySeconds, Labels: c.Labels,
	}
}

// checkImportTemplate refuses a template an archive may not use. A
// template made by a full import (NAME-root) is that zone's whole root,
// its customer's data: a layer archive naming it would lay a stranger's
// zone over it, so only the operator's request may name it. A full
// archive brings its own root.
func (m *Manager) checkImportTemplate(kind, requested, template string) error {
	if kind == fsshare.ExportRootfs {
		if requested != "" {
			return fmt.Errorf("a full archive brings its own root; template is for layer archives: %w", errdefs.ErrInvalid)
		}
		return nil
	}
	if requested != "" {
		return nil
	}
	if rec, err := m.store.GetTemplate(template); err == nil && rec.Source == "import" {
		return fmt.Errorf("the archive names template %q, which holds an imported zone's whole root; name it in the request to lay this archive over it: %w", template, errdefs.ErrInvalid)
	}
	return nil
}

// checkGrant refuses an import request whose grant a create would refuse,
// naming the field.
func checkGrant(req api.ImportZoneRequest) error {
	if req.Name != "" {
		if err := validate.Name("zone", req.Name); err != nil {
			return errdefs.WithField("name", err)
		}
	}
	if _, err := optionalDevices(req.Devices); err != nil {
		return errdefs.WithField("devices", err)
	}
	if err := cgroups.Validate(req.Resources); err != nil {
		return errdefs.WithField("resources", err)
	}
	return errdefs.WithField("labels", ValidateLabels(req.Labels))
}

func (m *Manager) importZone(ctx context.Context, create api.CreateZoneRequest, er *fsshare.ExportReader, lim fsshare.ImportLimits, progress func(int, string)) error {
	if er.Kind == fsshare.ExportRootfs {
		create.Template = create.Name + "-root"
		progress(5, "making template "+create.Template)
		err := m.buildTemplate(ctx, &store.TemplateRecord{Name: create.Template, Source: "import"}, func() error {
			return m.fs.ImportRootTemplate(ctx, create.Template, er, lim, fsshare.ProgressFunc(progress))
		})
		if err != nil {
			return err
		}
		if _, err := m.createZone(ctx, create, nil); err != nil {
			_ = m.DeleteTemplate(ctx, create.Template)
			return err
		}
		return nil
	}
	progress(5, "making zone "+create.Name)
	_, err := m.createZone(ctx, create, func(rec *store.ZoneRecord) error {
		v, err := m.fsVolume(rec)
		if err != nil {
			return err
		}
		return v.ImportLayer(ctx, er, lim, fsshare.ProgressFunc(progress))
	})
	return err
}

// The host's caps on what one import may unpack to, unless Config sets
// others.
const (
	DefaultImportMaxBytes   = fsshare.DefaultImportMaxBytes
	DefaultImportMaxEntries = fsshare.DefaultImportMaxEntries
)

// importLimits are the host's caps on imports from the daemon's config.
func importLimits(cfg Config) fsshare.ImportLimits {
	lim := fsshare.DefaultImportLimits()
	if cfg.ImportMaxBytes > 0 {
		lim.MaxBytes = cfg.ImportMaxBytes
	}
	if cfg.ImportMaxEntries > 0 {
		lim.MaxEntries = cfg.ImportMaxEntries
	}
	return lim
}

// restartImport settles an import the daemon died in: a zone past
// creating was imported; one still creating (and the template a full
// import was building) is removed by reconcile, which runs after
// operations are settled.
func (m *Manager) restartImport(_ context.Context, op *api.Operation) (string, error) {
	rec, err := m.store.GetZone(op.Target)
	if err == nil && rec.State != api.StateCreating {
		return api.OutcomeCompleted, nil
	}
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return "", err
	}
	return api.OutcomeRolledBack, nil
}

// exportNote is where a running export of zone notes its partial file.
func (m *Manager) exportNote(zone string) string {
	return filepath.Join(m.cfg.DataDir, "exports", zone+".partial")
}

// restartExport settles an export the daemon died in: the partial file
// its note names is removed, so nothing that looks like an archive (or
// takes the space of one) stays behind.
func (m *Manager) restartExport(_ context.Context, op *api.Operation) (string, error) {
	note := m.exportNote(op.Target)
	b, err := os.ReadFile(note)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing was written yet, or the archive was complete and
		// linked into place.
		if op.Progress >= 100 {
			return api.OutcomeCompleted, nil
		}
		return api.OutcomeRolledBack, nil
	}
	if err != nil {
		return "", err
	}
	if p := string(b); strings.HasPrefix(filepath.Base(p), ".zoned-export-") {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("remove partial export %s: %w", p, err)
		}
	}
	if err := os.Remove(note); err != nil {
		return "", err
	}
	if op.Progress >= 100 {
		// Linked into place already: the partial name was a second link.
		return api.OutcomeCompleted, nil
	}
	return api.OutcomeRolledBack, nil
}
