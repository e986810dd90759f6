package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// serve runs handler on a real Unix socket in a temp dir and returns a
// client for it. The server is shut down when the test ends.
func serve(t *testing.T, handler http.Handler) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "zoned.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return New(sock)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestNewDefaultSocket(t *testing.T) {
	if got := New("").Socket(); got != api.DefaultSocket {
		t.Fatalf("New(\"\").Socket() = %q, want %q", got, api.DefaultSocket)
	}
}

func TestUnreachableDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	_, err := New(sock).ListZones(context.Background())
	if err == nil {
		t.Fatal("ListZones on a missing socket succeeded")
	}
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("error %v does not wrap ErrUnavailable", err)
	}
	want := "cannot reach zoned at " + sock + ": is the daemon running?"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
}

func TestErrorDecoding(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/zones/{name}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("name") {
		case "missing":
			writeJSON(w, http.StatusNotFound, api.Error{Code: "not_found", Message: `zone "missing" not found`})
		case "busy":
			writeJSON(w, http.StatusConflict, api.Error{Code: "conflict", Message: `zone "busy" is running`, Field: "force"})
		case "full":
			http.Error(w, "disk full", http.StatusInsufficientStorage)
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	})
	c := serve(t, mux)
	ctx := context.Background()

	_, err := c.GetZone(ctx, "missing")
	if !errors.Is(err, errdefs.ErrNotFound) || err.Error() != `zone "missing" not found` {
		t.Errorf("missing: err = %v (is not_found: %v)", err, errors.Is(err, errdefs.ErrNotFound))
	}
	_, err = c.GetZone(ctx, "busy")
	var ce *Error
	if !errors.As(err, &ce) || ce.StatusCode != http.StatusConflict || ce.Field != "force" || !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("busy: err = %#v", err)
	}
	// A body that is no api.Error still gives a readable error.
	_, err = c.GetZone(ctx, "other")
	if !errors.As(err, &ce) || ce.Code != "internal" || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("other: err = %v", err)
	}
	if errdefs.FromCode(ce.Code) != nil || errors.Unwrap(err) != nil {
		t.Errorf("internal error should wrap no sentinel, got %v", errors.Unwrap(err))
	}
	// A 507 without a body (a proxy's) is still a full disk.
	if _, err = c.GetZone(ctx, "full"); !errors.Is(err, errdefs.ErrNoSpace) {
		t.Errorf("full: err = %v, want errdefs.ErrNoSpace", err)
	}
}

func TestZoneCalls(t *testing.T) {
	mux := http.NewServeMux()
	var gotCreate api.CreateZoneRequest
	var gotPatch api.ZonePatch
	var gotStop api.StopRequest
	var gotForce string
	mux.HandleFunc("POST /v1/zones", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("create Content-Type = %q", ct)
		}
		_ = json.NewDecoder(r.Body).Decode(&gotCreate)
		writeJSON(w, http.StatusCreated, api.Zone{Name: gotCreate.Name, State: api.StateStopped, Template: gotCreate.Template})
	})
	mux.HandleFunc("PATCH /v1/zones/{name}", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&gotPatch)
		writeJSON(w, http.StatusOK, api.Zone{Name: r.PathValue("name"), Resources: api.Resources{MemoryBytes: *gotPatch.Resources.MemoryBytes}})
	})
	mux.HandleFunc("POST /v1/zones/{name}/stop", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&gotStop)
		writeJSON(w, http.StatusOK, api.Zone{Name: r.PathValue("name"), State: api.StateStopped})
	})
	mux.HandleFunc("DELETE /v1/zones/{name}", func(w http.ResponseWriter, r *http.Request) {
		gotForce = r.URL.Query().Get("force")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/zones", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []api.Zone{{Name: "a"}, {Name: "b", Usage: &api.Usage{Processes: 3}}})
	})
	mux.HandleFunc("GET /v1/zones/{name}/console-log", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "booting\nready\n")
	})
	c := serve(t, mux)
	ctx := context.Background()

	z, err := c.CreateZone(ctx, api.CreateZoneRequest{Name: "web1", Template: "busybox", Resources: api.Resources{MemoryBytes: 512 << 20}})
	if err != nil || z.Name != "web1" || z.State != api.StateStopped {
		t.Fatalf("CreateZone = %+v, %v", z, err)
	}
	if gotCreate.Resources.MemoryBytes != 512<<20 || gotCreate.Template != "busybox" {
		t.Errorf("server saw create %+v", gotCreate)
	}

	mem := int64(0)
	z, err = c.UpdateZone(ctx, "web1", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &mem}})
	if err != nil || z.Resources.MemoryBytes != 0 {
		t.Fatalf("UpdateZone = %+v, %v", z, err)
	}
	// A zero that removes a limit must reach the server, not vanish in
	// omitempty.
	if gotPatch.Resources == nil || gotPatch.Resources.MemoryBytes == nil || gotPatch.Resources.SwapBytes != nil {
		t.Errorf("server saw patch %+v", gotPatch.Resources)
	}

	if _, err := c.StopZone(ctx, "web1", api.StopRequest{TimeoutSeconds: 5, Force: true}); err != nil {
		t.Fatal(err)
	}
	if gotStop != (api.StopRequest{TimeoutSeconds: 5, Force: true}) {
		t.Errorf("server saw stop %+v", gotStop)
	}

	if err := c.DestroyZone(ctx, "web1", true); err != nil || gotForce != "true" {
		t.Fatalf("DestroyZone: %v, force=%q", err, gotForce)
	}
	if err := c.DestroyZone(ctx, "web1", false); err != nil || gotForce != "" {
		t.Fatalf("DestroyZone without force: %v, force=%q", err, gotForce)
	}

	zs, err := c.ListZones(ctx)
	if err != nil || len(zs) != 2 || zs[1].Usage == nil || zs[1].Usage.Processes != 3 {
		t.Fatalf("ListZones = %+v, %v", zs, err)
	}

	rc, err := c.ConsoleLog(ctx, "web1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "booting\nready\n" {
		t.Fatalf("ConsoleLog = %q, %v", b, err)
	}
}

func TestTemplateAndOperationCalls(t *testing.T) {
	mux := http.NewServeMux()
	var gotBody []byte
	var gotLen int64
	var gotTimeout string
	mux.HandleFunc("PUT /v1/templates/{name}", func(w http.ResponseWriter, r *http.Request) {
		gotLen = r.ContentLength
		gotBody, _ = io.ReadAll(r.Body)
		writeJSON(w, http.StatusCreated, api.Template{Name: r.PathValue("name"), Source: "tar", SizeBytes: int64(len(gotBody))})
	})
	mux.HandleFunc("POST /v1/templates", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateTemplateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		writeJSON(w, http.StatusAccepted, api.Operation{ID: "op1", Kind: "template-create", Target: req.Name, Status: api.OperationRunning})
	})
	mux.HandleFunc("GET /v1/operations/{id}/wait", func(w http.ResponseWriter, r *http.Request) {
		gotTimeout = r.URL.Query().Get("timeout")
		writeJSON(w, http.StatusOK, api.Operation{ID: r.PathValue("id"), Status: api.OperationFailure,
			Err: &api.Error{Code: "unavailable", Message: "mirror unreachable"}})
	})
	mux.HandleFunc("DELETE /v1/templates/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	c := serve(t, mux)
	ctx := context.Background()

	// A file's size goes along, so the daemon can refuse early.
	data := bytes.Repeat([]byte("tar!"), 10000)
	f, err := os.CreateTemp(t.TempDir(), "root*.tar")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tpl, err := c.ImportTemplate(ctx, "deb12", f)
	if err != nil || tpl.Name != "deb12" {
		t.Fatalf("ImportTemplate = %+v, %v", tpl, err)
	}
	if !bytes.Equal(gotBody, data) || gotLen != int64(len(data)) {
		t.Errorf("server got %d bytes with Content-Length %d, want %d", len(gotBody), gotLen, len(data))
	}
	// The caller's file stays open: it is the caller's to close.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Errorf("file was closed by ImportTemplate: %v", err)
	}

	// A plain reader goes chunked, byte for byte.
	if _, err := c.ImportTemplate(ctx, "deb12", io.MultiReader(bytes.NewReader(data[:7]), bytes.NewReader(data[7:]))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotBody, data) || gotLen != -1 {
		t.Errorf("chunked import: server got %d bytes, Content-Length %d", len(gotBody), gotLen)
	}

	op, err := c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: "deb12", From: "debootstrap", Suite: "bookworm"})
	if err != nil || op.ID != "op1" || op.Target != "deb12" {
		t.Fatalf("CreateTemplate = %+v, %v", op, err)
	}
	op, err = c.WaitOperation(ctx, "op1", 0)
	if err != nil || gotTimeout != "" {
		t.Fatalf("WaitOperation(0) = %v, timeout query %q", err, gotTimeout)
	}
	op, err = c.WaitOperation(ctx, "op1", 30e9)
	if err != nil || gotTimeout != "30s" {
		t.Fatalf("WaitOperation(30s) = %v, timeout query %q", err, gotTimeout)
	}
	oerr := OperationError(op)
	if !errors.Is(oerr, errdefs.ErrUnavailable) || oerr.Error() != "mirror unreachable" {
		t.Errorf("OperationError = %v", oerr)
	}
	if OperationError(&api.Operation{Status: api.OperationSuccess}) != nil {
		t.Error("OperationError of a success is not nil")
	}
	if err := c.DeleteTemplate(ctx, "deb12"); err != nil {
		t.Fatal(err)
	}
}

func TestContextCancel(t *testing.T) {
	arrived := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/operations/{id}/wait", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // hold the answer until the client gives up
	})
	c := serve(t, mux)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := c.WaitOperation(ctx, "op1", 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitOperation after cancel = %v, want context.Canceled", err)
	}
}
