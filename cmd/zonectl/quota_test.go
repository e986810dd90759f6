package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
)

func TestDiskFlags(t *testing.T) {
	f := startFakeDaemon(t)
	code, _, stderr := zonectl(t, "--socket", f.sock, "create", "web1", "--disk", "20G", "--inodes", "500000")
	if code != 0 || stderr != "" {
		t.Fatalf("create: code %d, stderr %q", code, stderr)
	}
	var got api.CreateZoneRequest
	if err := json.Unmarshal([]byte(f.body("POST /v1/zones")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Resources.DiskBytes != 20<<30 || got.Resources.DiskInodes != 500000 {
		t.Errorf("create sent %+v", got.Resources)
	}
	code, _, stderr = zonectl(t, "--socket", f.sock, "set", "web1", "--disk", "30G")
	if code != 0 {
		t.Fatalf("set: code %d, stderr %q", code, stderr)
	}
	if body, want := f.body("PATCH /v1/zones/web1"), `{"resources":{"disk_bytes":32212254720}}`; body != want {
		t.Errorf("PATCH body = %s, want %s", body, want)
	}
	for _, args := range [][]string{{"create", "web2", "--disk", "20X"}, {"create", "web2", "--inodes", "-1"}, {"set", "web2", "--inodes", "many"}} {
		code, _, stderr := zonectl(t, append([]string{"--socket", f.sock}, args...)...)
		if code == 0 || !strings.Contains(stderr, "--"+strings.TrimPrefix(args[2], "--")) {
			t.Errorf("%v: code %d, stderr %q", args, code, stderr)
		}
	}
}
