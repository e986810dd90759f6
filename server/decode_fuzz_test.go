//go:build linux

package server

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// FuzzDecodeCreateZone feeds arbitrary bodies to decode as a create
// request: it must never panic, and every error must classify as
// invalid_argument (a 400 naming the problem), never as the daemon's own
// failure.
func FuzzDecodeCreateZone(f *testing.F) {
	for _, s := range []string{
		`{"name":"web1","template":"busybox","resources":{"memory_bytes":536870912,"pids_max":100}}`,
		`{"name":"web1","resources":{"cpus":"0-1","cpu_limit_percent":150}}`,
		`{"name":"web1","autostart":true,"hostname":"web1.example.com"}`,
		`{"name":1}`,
		`{"resources":{"memory_bytes":"lots"}}`,
		`{"nmae":"typo"}`,
		`{"name":"a"} {"name":"b"}`,
		`[]`, `null`, ``, `{`, "\x00\xff",
		`{"resources":{"memory_bytes":1e400}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/v1/zones", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req api.CreateZoneRequest
		err := decode(r, &req)
		if err != nil && errdefs.Code(err) != "invalid_argument" {
			t.Errorf("decode(%q) = %v, classified %q, want invalid_argument", body, err, errdefs.Code(err))
		}
	})
}
