package network

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
)

// apiNetworkTypes reads the network types package api names: its string
// constants called Network…, read from the source so a constant added
// there without a type here fails the test below.
func apiNetworkTypes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../../api/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no source of package api: %v", err)
	}
	var types []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Network") || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						types = append(types, v)
					}
				}
			}
		}
	}
	return types
}

func TestNetworkTypes(t *testing.T) {
	types := apiNetworkTypes(t)
	for _, want := range []string{api.NetworkBridge, api.NetworkMacvlan, api.NetworkVXLAN} {
		if !slices.Contains(types, want) {
			t.Fatalf("reading package api found types %q, without %q", types, want)
		}
	}
	for _, typ := range types {
		if _, ok := networkTypes[typ]; !ok {
			t.Errorf("network type %q of package api has no networkType in networkTypes", typ)
		}
	}
	if len(networkTypes) != len(types) {
		t.Errorf("networkTypes has %d types, package api names %d (%q)", len(networkTypes), len(types), types)
	}
	_, err := checkNetwork(netvirt.Owner{}, api.Network{Name: "a", Type: "ovs"})
	if !errors.Is(err, errdefs.ErrInvalid) || errdefs.Field(err) != "type" {
		t.Fatalf("unknown type: error %v (field %q), want ErrInvalid about field type", err, errdefs.Field(err))
	}
	for _, typ := range types {
		if !strings.Contains(err.Error(), typ) {
			t.Errorf("unknown type: error %q does not name type %q", err, typ)
		}
	}
}

func TestKnownTypes(t *testing.T) {
	if got, want := knownTypes(), "bridge, macvlan or vxlan"; got != want {
		t.Errorf("knownTypes() = %q, want %q", got, want)
	}
}
