//go:build linux

package server

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// oapiCodegen is the generator the document is proven against: the most
// used one for Go (its kin-openapi parser is also what many other tools
// read documents with).
const oapiCodegen = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"

// TestOpenAPIGeneratesAGoClient generates a Go client from the served
// document with oapi-codegen, builds it in a module of its own and calls
// the daemon through it: the document is one a common generator reads,
// and its operation IDs become the client's methods.
func TestOpenAPIGeneratesAGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds oapi-codegen from the Go module proxy")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command")
	}
	srv := httptest.NewServer(New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{}))
	defer srv.Close()
	dir := t.TempDir()
	s := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("openapi.json", string(s.openapi))
	write("go.mod", "module gencheck\n\ngo 1.24\n")
	write("main.go", `package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	c, err := NewClientWithResponses(os.Args[1])
	if err != nil {
		panic(err)
	}
	resp, err := c.GetOpenAPIWithResponse(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), len(resp.Body) > 0)
	// Generated methods carry the operation IDs' verbs.
	var _ = c.CreateZoneWithResponse
	var _ = c.ListZonesWithResponse
	var _ = c.StreamEventsWithResponse
}
`)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("run", oapiCodegen, "-generate", "types,client", "-package", "main", "-o", "client.gen.go", "openapi.json")
	run("mod", "tidy")
	out := run("run", ".", srv.URL)
	if strings.TrimSpace(out) != "200 true" {
		t.Errorf("generated client's getOpenAPI: %q", out)
	}
}
