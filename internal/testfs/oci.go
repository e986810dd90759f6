//go:build linux

package testfs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// OCILayout writes an OCI image layout into dir whose image has layers
// (tar streams, compressed or not) in order, and returns their digests.
func OCILayout(t testing.TB, dir string, layers [][]byte) []digest.Digest {
	t.Helper()
	blob := func(b []byte) v1.Descriptor {
		d := digest.FromBytes(b)
		p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return v1.Descriptor{Digest: d, Size: int64(len(b))}
	}
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: blob([]byte("{}"))}
	m.SchemaVersion = 2
	var ds []digest.Digest
	for _, l := range layers {
		desc := blob(l)
		desc.MediaType = v1.MediaTypeImageLayer
		m.Layers = append(m.Layers, desc)
		ds = append(ds, desc.Digest)
	}
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	md := blob(mb)
	md.MediaType = v1.MediaTypeImageManifest
	idx := v1.Index{Manifests: []v1.Descriptor{md}}
	idx.SchemaVersion = 2
	ib, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return ds
}
