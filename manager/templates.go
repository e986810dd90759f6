//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/store"
)

// Template states in the store. A template in "building" after a daemon
// restart was interrupted and is removed by reconcile.
const (
	templateBuilding = "building"
	templateReady    = "ready"
)

// readyTemplate returns a template zones can be made from. Callers hold
// tmplMu for reading, so the template cannot be deleted under them.
func (m *Manager) readyTemplate(ctx context.Context, name string) (*store.TemplateRecord, error) {
	rec, err := m.store.GetTemplate(name)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", name, err)
	}
	if rec.State != templateReady {
		return nil, fmt.Errorf("template %q is still being built: %w", name, errdefs.ErrConflict)
	}
	return rec, nil
}

// ensureBuiltin builds the busybox template once; concurrent callers wait
// for the one build.
func (m *Manager) ensureBuiltin(ctx context.Context) (*store.TemplateRecord, error) {
	m.builtinMu.Lock()
	defer m.builtinMu.Unlock()
	if rec, err := m.store.GetTemplate(BuiltinTemplate); err == nil && rec.State == templateReady {
		return rec, nil
	}
	if err := m.buildTemplate(ctx, &store.TemplateRecord{Name: BuiltinTemplate, Source: "builtin"}, func() error {
		return m.fs.BuildBuiltin(ctx, BuiltinTemplate)
	}); err != nil {
		return nil, fmt.Errorf("build built-in template: %w", err)
	}
	return m.store.GetTemplate(BuiltinTemplate)
}

// buildTemplate records the template as building, runs build, and marks
// it ready with its init and size; on failure nothing is left.
func (m *Manager) buildTemplate(ctx context.Context, rec *store.TemplateRecord, build func() error) (err error) {
	rec.State = templateBuilding
	rec.CreatedAt = time.Now().UTC()
	if err := m.store.CreateTemplate(rec); err != nil {
		return errdefs.WithField("name", err)
	}
	defer func() {
		if err != nil {
			_ = m.fs.DeleteTemplate(rec.Name)
			_ = m.store.DeleteTemplate(rec.Name)
		}
	}()
	if err := build(); err != nil {
		return err
	}
	info, err := m.fs.DetectInit(rec.Name)
	if err != nil {
		return err
	}
	size, err := m.fs.TemplateSize(rec.Name)
	if err != nil {
		return err
	}
	_, err = m.store.UpdateTemplate(rec.Name, func(t *store.TemplateRecord) error {
		t.State = templateReady
		t.Init = info.Path
		t.SizeBytes = size
		return nil
	})
	if err == nil {
		m.log.Info("template ready", "template", rec.Name, "source", rec.Source, "init", info.Kind, "bytes", size)
	}
	return err
}

// ListTemplates returns the templates that are ready, with the zones that
// use each.
func (m *Manager) ListTemplates(ctx context.Context) ([]api.Template, error) {
	recs, err := m.store.ListTemplates()
	if err != nil {
		return nil, err
	}
	out := make([]api.Template, 0, len(recs))
	for _, r := range recs {
		t, err := m.templateToAPI(r)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// GetTemplate returns one template.
func (m *Manager) GetTemplate(ctx context.Context, name string) (*api.Template, error) {
	if err := validate.Name("template", name); err != nil {
		return nil, err
	}
	r, err := m.store.GetTemplate(name)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", name, err)
	}
	return m.templateToAPI(r)
}

func (m *Manager) templateToAPI(r *store.TemplateRecord) (*api.Template, error) {
	zones, err := m.store.ZonesUsingTemplate(r.Name)
	if err != nil {
		return nil, err
	}
	return &api.Template{
		Name: r.Name, Source: r.Source, Suite: r.Suite, Include: r.Include,
		Init: r.Init, SizeBytes: r.SizeBytes, CreatedAt: r.CreatedAt, Zones: zones,
	}, nil
}

// CreateTemplate starts building a template and returns the operation.
func (m *Manager) CreateTemplate(ctx context.Context, req api.CreateTemplateRequest) (*api.Operation, error) {
	if err := validate.Name("template", req.Name); err != nil {
		return nil, errdefs.WithField("name", err)
	}
	var build OpFunc
	rec := &store.TemplateRecord{Name: req.Name, Source: req.From}
	switch req.From {
	case "builtin":
		build = func(ctx context.Context, progress func(int, string)) error {
			progress(10, "building busybox root")
			return m.fs.BuildBuiltin(ctx, req.Name)
		}
	case "debootstrap":
		if req.Suite == "" {
			req.Suite = "bookworm"
		}
		if err := validate.Name("suite", req.Suite); err != nil {
			return nil, errdefs.WithField("suite", err)
		}
		for _, p := range req.Include {
			if p == "" || strings.ContainsAny(p, " ,/\t\n") || strings.HasPrefix(p, "-") {
				return nil, errdefs.WithField("include", fmt.Errorf("package name %q is not valid: %w", p, errdefs.ErrInvalid))
			}
		}
		if req.Mirror != "" && !strings.HasPrefix(req.Mirror, "http://") && !strings.HasPrefix(req.Mirror, "https://") && !strings.HasPrefix(req.Mirror, "file:/") {
			return nil, errdefs.WithField("mirror", fmt.Errorf("mirror %q must be an http(s) or file URL: %w", req.Mirror, errdefs.ErrInvalid))
		}
		rec.Suite, rec.Include = req.Suite, req.Include
		opts := fsshare.DebootstrapOptions{Suite: req.Suite, Mirror: req.Mirror, Include: req.Include}
		build = func(ctx context.Context, progress func(int, string)) error {
			return m.fs.Debootstrap(ctx, req.Name, opts, fsshare.ProgressFunc(progress))
		}
	case "dir", "oci":
		if !filepath.IsAbs(req.Path) {
			return nil, errdefs.WithField("path", fmt.Errorf("%s template needs an absolute path on the daemon's host, got %q: %w", req.From, req.Path, errdefs.ErrInvalid))
		}
		if _, err := os.Stat(req.Path); err != nil {
			return nil, errdefs.WithField("path", fmt.Errorf("%s: %w", req.Path, errdefs.ErrInvalid))
		}
		build = func(ctx context.Context, progress func(int, string)) error {
			if req.From == "dir" {
				return m.fs.ImportDir(ctx, req.Name, req.Path, fsshare.ProgressFunc(progress))
			}
			return m.fs.ImportOCI(ctx, req.Name, req.Path, fsshare.ProgressFunc(progress))
		}
	default:
		return nil, errdefs.WithField("from", fmt.Errorf("template source %q is unknown; use debootstrap, builtin, dir or oci (import a tar with PUT): %w", req.From, errdefs.ErrInvalid))
	}
	// Refuse a taken name now rather than in the operation.
	if _, err := m.store.GetTemplate(req.Name); err == nil {
		return nil, errdefs.WithField("name", fmt.Errorf("template %q: %w", req.Name, errdefs.ErrAlreadyExists))
	}
	// No template lock is held while building: the record's "building"
	// state keeps zones off the template, and builds take minutes.
	// Cancelling the operation ends the build's context; buildTemplate
	// then removes what was built and the record.
	return m.ops.startCtx("template-create", req.Name, func(ctx context.Context, progress func(int, string)) error {
		err := m.buildTemplate(ctx, rec, func() error { return build(ctx, progress) })
		if err != nil {
			return fmt.Errorf("create template %q: %w", req.Name, err)
		}
		return nil
	}), nil
}

// ImportTemplate makes a template from a tar stream (plain, gzip or zstd).
func (m *Manager) ImportTemplate(ctx context.Context, name string, r io.Reader) (_ *api.Template, err error) {
	if err := validate.Name("template", name); err != nil {
		return nil, errdefs.WithField("name", err)
	}
	err = m.buildTemplate(ctx, &store.TemplateRecord{Name: name, Source: "tar"}, func() error {
		return m.fs.ImportTar(ctx, name, r, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("import template %q: %w", name, err)
	}
	return m.GetTemplate(ctx, name)
}

// DeleteTemplate removes a template no zone uses.
func (m *Manager) DeleteTemplate(ctx context.Context, name string) error {
	if err := validate.Name("template", name); err != nil {
		return err
	}
	m.tmplMu.Lock()
	defer m.tmplMu.Unlock()
	if _, err := m.store.GetTemplate(name); err != nil {
		return fmt.Errorf("delete template %q: %w", name, err)
	}
	zones, err := m.store.ZonesUsingTemplate(name)
	if err != nil {
		return err
	}
	if len(zones) > 0 {
		return fmt.Errorf("delete template %q: used by zones %s: %w", name, strings.Join(zones, ", "), errdefs.ErrConflict)
	}
	if err := m.fs.DeleteTemplate(name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("delete template %q: %w", name, err)
	}
	return m.store.DeleteTemplate(name)
}

// restartTemplateBuild deals with a template build a daemon died in: a
// template that reached "ready" was complete; anything else is removed,
// files and record, so the name can be built again.
func (m *Manager) restartTemplateBuild(ctx context.Context, op *api.Operation) (string, error) {
	rec, err := m.store.GetTemplate(op.Target)
	if err == nil && rec.State == templateReady {
		return api.OutcomeCompleted, nil
	}
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return "", err
	}
	if err := m.fs.DeleteTemplate(op.Target); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return "", fmt.Errorf("remove interrupted template %q: %w", op.Target, err)
	}
	if rec != nil {
		if err := m.store.DeleteTemplate(op.Target); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return "", err
		}
	}
	return api.OutcomeRolledBack, nil
}
