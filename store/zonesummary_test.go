package store

import (
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The summaries follow every change, whoever makes it, and carry no spec.
func TestListZoneSummariesFollowChanges(t *testing.T) {
	s := openTemp(t)
	for i := range 3 {
		r := zone(fmt.Sprintf("z%d", i))
		r.Spec = &specs.Spec{Hostname: r.Name}
		if err := s.CreateZone(r); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want string) {
		t.Helper()
		recs, err := s.ListZoneSummaries()
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, r := range recs {
			if r.Spec != nil {
				t.Errorf("%s: summary has a spec", r.Name)
			}
			got += fmt.Sprintf("%s:%s:%d ", r.Name, r.Hostname, r.Revision)
		}
		if got != want {
			t.Errorf("summaries %q, want %q", got, want)
		}
	}
	check("z0:z0.example.net:1 z1:z1.example.net:1 z2:z2.example.net:1 ")
	check("z0:z0.example.net:1 z1:z1.example.net:1 z2:z2.example.net:1 ") // from the cache
	if _, err := s.UpdateZone("z1", func(r *ZoneRecord) error { r.Hostname = "new"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteZone("z2"); err != nil {
		t.Fatal(err)
	}
	check("z0:z0.example.net:1 z1:new:2 ")
	// A caller's copy does not reach the cache.
	recs, _ := s.ListZoneSummaries()
	recs[0].Hostname = "scribbled"
	check("z0:z0.example.net:1 z1:new:2 ")
}
