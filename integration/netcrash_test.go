//go:build linux

package integration

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// editZoneRecord changes a stopped daemon's store the way a daemon killed at
// some point would have left it.
func (d *daemon) editZoneRecord(zone string, fn func(*store.ZoneRecord)) {
	d.t.Helper()
	if d.cmd != nil {
		d.t.Fatal("editZoneRecord needs the daemon stopped")
	}
	s, err := store.Open(filepath.Join(d.dataDir, "zoned.db"))
	if err != nil {
		d.t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.UpdateZone(zone, func(z *store.ZoneRecord) error { fn(z); return nil }); err != nil {
		d.t.Fatal(err)
	}
}

// nicLinks lists the zv… and zxb… links in network namespace ns.
func nicLinks(t testing.TB, ns string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(inNS(t, ns, "ip", "-br", "link"), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (strings.HasPrefix(f[0], "zv") || strings.HasPrefix(f[0], "zxb")) {
			out = append(out, strings.SplitN(f[0], "@", 2)[0])
		}
	}
	sort.Strings(out)
	return out
}

// TestNICLeftoversAfterKill: the states a daemon killed in the middle of
// a NIC change leaves behind are settled by the next start. A remove cut
// short after its record was committed (what zoned did before NIC
// changes were recorded as pending) left the NIC's veth and ifb on the
// host for good, and every later add of the NIC failed with "file
// exists"; a pending remove is finished, a pending add undone.
func TestNICLeftoversAfterKill(t *testing.T) {
	d, ns := startNetDaemon(t)
	ctx := ctxT(t)
	d.mustZonectl("network", "create", "lan", "--subnet", "10.58.0.0/24")
	d.mustZonectl("create", "k1", "--nic", "network=lan,ip=auto")
	d.mustZonectl("start", "k1")
	add := func() api.NIC {
		t.Helper()
		nic, err := d.c.AddNIC(ctx, "k1", api.NICRequest{Name: "eth1", Network: "lan", IPv4: []string{"auto"}, RateBitsPerSecond: 1e6})
		if err != nil {
			t.Fatalf("nic add: %v\n%s", err, d.logs())
		}
		return *nic
	}
	z, _ := d.c.GetZone(ctx, "k1")
	eth0 := z.NICs[0].HostIfName
	want := []string{eth0}
	for _, c := range []struct {
		what    string
		pending string // "" drops the NIC from the record, as the old remove did
	}{
		{"a remove killed after its commit", ""},
		{"a remove killed before it detached", "removing"},
		{"an add killed before it committed", "adding"},
	} {
		nic := add()
		ifb := netvirt.IFBName(nic.HostIfName)
		if got := nicLinks(t, ns); !slices.Contains(got, nic.HostIfName) || !slices.Contains(got, ifb) {
			t.Fatalf("%s: NIC's links %s, %s not there: %v", c.what, nic.HostIfName, ifb, got)
		}
		d.kill9()
		d.editZoneRecord("k1", func(z *store.ZoneRecord) {
			if c.pending == "" {
				z.NICs = slices.DeleteFunc(z.NICs, func(n api.NIC) bool { return n.Name == "eth1" })
				return
			}
			for i := range z.NICs {
				if z.NICs[i].Name == "eth1" {
					z.NICs[i].Pending = c.pending
				}
			}
		})
		d.start()
		if got := nicLinks(t, ns); !slices.Equal(got, want) {
			t.Errorf("%s: links after restart %v, want %v", c.what, got, want)
		}
		if nics, _ := d.c.ListNICs(ctx, "k1"); len(nics) != 1 || nics[0].Name != "eth0" {
			t.Errorf("%s: NICs after restart %+v", c.what, nics)
		}
		if out := d.exec("k1", "", "ip", "link", "show", "eth1"); out.code == 0 {
			t.Errorf("%s: eth1 still in the zone: %s", c.what, out.stdout)
		}
		if rules := inNS(t, ns, "nft", "list", "table", "bridge", zonedTable(t, ns, "bridge")); strings.Contains(rules, nic.HostIfName) {
			t.Errorf("%s: rules of %s left: %s", c.what, nic.HostIfName, rules)
		}
		// The same NIC can be added (and removed) again.
		add()
		if err := d.c.RemoveNIC(ctx, "k1", "eth1"); err != nil {
			t.Fatal(err)
		}
	}
	// A running zone's NIC whose host side went behind zoned's back is
	// plugged in again by the next start.
	d.stop()
	inNS(t, ns, "ip", "link", "del", eth0)
	d.start()
	if got := nicLinks(t, ns); !slices.Equal(got, want) {
		t.Errorf("after the host side of eth0 was deleted: links %v, want %v", got, want)
	}
	d.mustExec("k1", "ping", "-c", "1", "-W", "5", "10.58.0.1")
	// Another daemon's links (another alias) are not swept.
	inNS(t, ns, "ip", "link", "add", "zvforeign0", "type", "bridge")
	defer exec.Command("ip", "netns", "exec", ns, "ip", "link", "del", "zvforeign0").Run()
	inNS(t, ns, "ip", "link", "set", "zvforeign0", "alias", "zoned:0badc0de")
	d.stop()
	d.start()
	if !slices.Contains(nicLinks(t, ns), "zvforeign0") {
		t.Error("a restart swept another daemon's link")
	}
	inNS(t, ns, "ip", "link", "del", "zvforeign0")
	d.mustZonectl("destroy", "--force", "k1")
	d.mustZonectl("network", "delete", "lan")
}

// TestNICCrashRounds kills the test's own daemon (kill -9) at random
// points of concurrent NIC adds and removes, zone creates, starts and
// destroys, restarts it, and audits after each restart: every NIC change
// is done or undone, and no link, ifb, nftables chain, cgroup, mount,
// directory or record is left without its owner.
func TestNICCrashRounds(t *testing.T) {
	d, ns := startNetDaemon(t)
	ctx := ctxT(t)
	d.mustZonectl("network", "create", "lan", "--subnet", "10.59.0.0/22")
	zones := []string{"c1", "c2", "c3"}
	for _, z := range zones {
		d.mustZonectl("create", z, "--nic", "network=lan,ip=auto")
		d.mustZonectl("start", z)
	}
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	const rounds = 8
	for round := 0; round < rounds; round++ {
		opCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, z := range zones {
			z := z
			wg.Add(1)
			go func() {
				defer wg.Done()
				for opCtx.Err() == nil {
					_, _ = d.c.AddNIC(opCtx, z, api.NICRequest{Name: "eth1", Network: "lan", IPv4: []string{"auto"}, RateBitsPerSecond: 1e6})
					_ = d.c.RemoveNIC(opCtx, z, "eth1")
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; opCtx.Err() == nil; i++ {
				name := fmt.Sprintf("t%d", i%2)
				_, _ = d.c.CreateZone(opCtx, api.CreateZoneRequest{Name: name, Template: "busybox", NICs: []api.NICRequest{{Network: "lan", IPv4: []string{"auto"}, RateBitsPerSecond: 1e6}}})
				_, _ = d.c.StartZone(opCtx, name)
				_ = d.c.DestroyZone(opCtx, name, true)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for opCtx.Err() == nil {
				if op, err := d.c.CreateSnapshot(opCtx, "c1", "s"); err == nil {
					_, _ = d.c.WaitOperation(opCtx, op.ID, 0)
				}
				_ = d.c.DeleteSnapshot(opCtx, "c1", "s")
			}
		}()
		time.Sleep(time.Duration(100+rnd.Intn(700)) * time.Millisecond)
		d.kill9()
		cancel()
		wg.Wait()
		d.start()
		auditNet(t, d, ns, round)
		if t.Failed() {
			t.Fatalf("round %d: audit failed; log:\n%s", round, d.logs())
		}
	}
	logs := d.logs()
	t.Logf("%d rounds: %d interrupted NIC changes settled, %d leftover links swept, %d interrupted creates undone, %d snapshot requests",
		rounds, strings.Count(logs, "settling interrupted NIC change"), strings.Count(logs, "removed a link no record names"), strings.Count(logs, "undoing interrupted create"),
		strings.Count(logs, "path=/v1/zones/c1/snapshots"))
	zs, _ := d.c.ListZones(ctx)
	for _, z := range zs {
		d.mustZonectl("destroy", "--force", z.Name)
	}
	d.mustZonectl("network", "delete", "lan")
	if tables := inNS(t, ns, "nft", "list", "tables"); strings.Contains(tables, "zoned") {
		t.Errorf("tables left: %s", tables)
	}
}

var portChainRE = regexp.MustCompile(`chain port_(\S+)`)

// auditNet checks that every host object of the daemon in ns has its
// owner in the store and the other way round.
func auditNet(t *testing.T, d *daemon, ns string, round int) {
	t.Helper()
	ctx := ctxT(t)
	zs, err := d.c.ListZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantLinks, wantPorts []string
	names := map[string]bool{}
	for _, zs := range zs {
		z, err := d.c.GetZone(ctx, zs.Name)
		if err != nil {
			t.Fatal(err)
		}
		names[z.Name] = true
		running := z.State == api.StateRunning
		var inZone string
		if running {
			out, err := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", z.InitPID), "ip", "-br", "link").CombinedOutput()
			if err != nil {
				t.Errorf("round %d: links of %s: %v: %s", round, z.Name, err, out)
			}
			inZone = string(out)
		}
		for _, nic := range z.NICs {
			if nic.Pending != "" {
				t.Errorf("round %d: %s/%s still %s after restart", round, z.Name, nic.Name, nic.Pending)
			}
			if !running {
				continue
			}
			wantLinks = append(wantLinks, nic.HostIfName)
			wantPorts = append(wantPorts, nic.HostIfName)
			if nic.RateBitsPerSecond > 0 {
				wantLinks = append(wantLinks, netvirt.IFBName(nic.HostIfName))
			}
			if !strings.Contains(inZone, nic.Name+"@") {
				t.Errorf("round %d: %s/%s not in the zone: %s", round, z.Name, nic.Name, inZone)
			}
		}
		if running {
			for _, l := range strings.Split(inZone, "\n") {
				f := strings.Fields(l)
				if len(f) > 0 && strings.HasPrefix(f[0], "eth") {
					n := strings.SplitN(f[0], "@", 2)[0]
					if !slices.ContainsFunc(z.NICs, func(x api.NIC) bool { return x.Name == n }) {
						t.Errorf("round %d: %s has %s, which its record does not", round, z.Name, n)
					}
				}
			}
		}
	}
	sort.Strings(wantLinks)
	if got := nicLinks(t, ns); !slices.Equal(got, wantLinks) {
		t.Errorf("round %d: NIC links %v, records name %v", round, got, wantLinks)
	}
	var gotPorts []string
	if tables := inNS(t, ns, "nft", "list", "tables", "bridge"); strings.Contains(tables, "zoned_") {
		for _, m := range portChainRE.FindAllStringSubmatch(inNS(t, ns, "nft", "list", "table", "bridge", zonedTable(t, ns, "bridge")), -1) {
			gotPorts = append(gotPorts, m[1])
		}
	}
	sort.Strings(gotPorts)
	sort.Strings(wantPorts)
	if !slices.Equal(gotPorts, wantPorts) {
		t.Errorf("round %d: port chains %v, running NICs %v", round, gotPorts, wantPorts)
	}
	// Zones' cgroups, directories and mounts belong to zones with records.
	for _, dir := range cgroupDirs(d.cgroupParent) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			// _… groups are the daemon's own (the /proc view server's).
			if e.IsDir() && !names[e.Name()] && !strings.HasPrefix(e.Name(), "_") {
				t.Errorf("round %d: cgroup %s/%s has no zone", round, dir, e.Name())
			}
		}
	}
	// Snapshots: each directory has its record and each record its
	// directory (a half-made one is a .staging-… directory, which must
	// not outlive a restart either).
	if names["c1"] {
		snaps, err := d.c.ListSnapshots(ctx, "c1")
		if err != nil {
			t.Errorf("round %d: list snapshots: %v", round, err)
		}
		var want, got []string
		for _, sn := range snaps {
			want = append(want, sn.Name)
		}
		entries, _ := os.ReadDir(filepath.Join(d.dataDir, "zones", "c1", "snapshots"))
		for _, e := range entries {
			got = append(got, e.Name())
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("round %d: snapshot directories %v, records %v", round, got, want)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(d.dataDir, "zones"))
	for _, e := range entries {
		if !names[e.Name()] {
			t.Errorf("round %d: zone directory %s has no record", round, e.Name())
		}
	}
	// The daemon's own mounts (its /proc view) live while it runs; zones'
	// mounts never show on the host.
	if err := checkNoMountsUnder(filepath.Join(d.dataDir, "zones")); err != nil {
		t.Errorf("round %d: %v", round, err)
	}
}

// TestTwoDaemonsOneHost: two daemons share a network namespace (a host).
// Each has its own nftables tables and marks its links with its own
// alias, so one's restart (which rebuilds its tables and sweeps its
// links) and one's teardown of everything leave the other's rules,
// bridge and NICs alone, and the other's zone keeps its network.
func TestTwoDaemonsOneHost(t *testing.T) {
	ns := netnsFor(t)
	inNS := func(args ...string) string { return inNS(t, ns, args...) }
	wrap := func(d *daemon) { d.wrap = []string{"nsenter", "--net=/run/netns/" + ns, "--"} }
	a, b := startDaemon(t, wrap), startDaemon(t, wrap)
	// Both name their network lan: their bridges still differ.
	a.mustZonectl("network", "create", "lan", "--subnet", "10.60.0.0/24")
	b.mustZonectl("network", "create", "lan", "--subnet", "10.60.1.0/24", "--nat")
	if a.bridgeOf("lan") == b.bridgeOf("lan") {
		t.Fatalf("two daemons' networks lan share bridge %s", a.bridgeOf("lan"))
	}
	a.mustZonectl("create", "za", "--nic", "network=lan,ip=auto,rate=10mbit")
	a.mustZonectl("start", "za")
	b.mustZonectl("create", "zb", "--nic", "network=lan,ip=auto,rate=10mbit")
	b.mustZonectl("start", "zb")
	var tables []string
	for _, l := range strings.Split(inNS("nft", "list", "tables"), "\n") {
		if strings.Contains(l, "zoned_") {
			tables = append(tables, strings.TrimSpace(l))
		}
	}
	bLinks := func() []string {
		var out []string
		for _, l := range strings.Split(inNS("ip", "-o", "link"), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.Contains(l, "alias zoned:") {
				out = append(out, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")+" "+l[strings.Index(l, "alias zoned:"):])
			}
		}
		sort.Strings(out)
		return out
	}
	before := bLinks()
	// a restarts (rebuild and sweep), then destroys all it has.
	a.kill9()
	a.start()
	if got := bLinks(); !slices.Equal(got, before) {
		t.Errorf("links after one daemon's restart:\n%v\nbefore:\n%v", got, before)
	}
	a.mustZonectl("destroy", "--force", "za")
	a.mustZonectl("network", "delete", "lan")
	var left []string
	for _, l := range strings.Split(inNS("nft", "list", "tables"), "\n") {
		if strings.Contains(l, "zoned_") {
			left = append(left, strings.TrimSpace(l))
		}
	}
	// a had bridge and inet tables, b has those and ip (NAT): b's three
	// are all that is left.
	if len(left) != 3 || len(tables) != 5 {
		t.Errorf("tables before %v, after one daemon left %v", tables, left)
	}
	zb, err := b.c.GetZone(ctxT(t), "zb")
	if err != nil {
		t.Fatal(err)
	}
	hostIf := zb.NICs[0].HostIfName
	links := inNS("ip", "-br", "link")
	for _, l := range []string{hostIf, netvirt.IFBName(hostIf), b.bridgeOf("lan")} {
		if !strings.Contains(links, l) {
			t.Errorf("the other daemon's link %s went: %s", l, links)
		}
	}
	if rules := inNS("nft", "list", "table", "bridge", zonedTable(t, ns, "bridge")); !strings.Contains(rules, "port_"+hostIf) {
		t.Errorf("the other daemon's port rules went: %s", rules)
	}
	b.mustExec("zb", "ping", "-c", "1", "-W", "5", "10.60.1.1")
	b.mustZonectl("destroy", "--force", "zb")
	b.mustZonectl("network", "delete", "lan")
	if tables := inNS("nft", "list", "tables"); strings.Contains(tables, "zoned") {
		t.Errorf("tables left: %s", tables)
	}
	if links := inNS("ip", "-br", "link"); strings.Contains(links, "zv") || strings.Contains(links, "zbr") || strings.Contains(links, "zxb") {
		t.Errorf("links left: %s", links)
	}
}

// A daemon killed while it made a zone's cgroup leaves the group in some
// hierarchies and not in others (on v1, cgroup1.New makes cpuset, freezer,
// pids and name=systemd before memory), or, on v2, an empty group. The
// next start must take that leftover over, and destroy must remove it,
// whatever state the record was left in (#15: it answered 409
// already_exists for good and destroy left the groups).
func TestCutStartCgroupLeftovers(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	for _, name := range []string{"cgstart", "cgdestroy"} {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox"}); err != nil {
			t.Fatal(err)
		}
	}
	d.kill9()
	// What the kill during start left: a record in "starting" without an
	// init, and the group in every hierarchy but memory.
	var made []string
	for _, name := range []string{"cgstart", "cgdestroy"} {
		d.editZoneRecord(name, func(z *store.ZoneRecord) { z.State = api.StateStarting })
		for _, m := range cgroupMounts() {
			if strings.HasSuffix(m, "/memory") {
				continue
			}
			dir := filepath.Join(m, d.cgroupParent, name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatalf("make leftover %s: %v", dir, err)
			}
			made = append(made, dir)
		}
	}
	if len(made) == 0 {
		t.Fatal("no cgroup hierarchy is mounted")
	}
	d.start()

	if _, err := d.c.StartZone(ctx, "cgstart"); err != nil {
		t.Fatalf("start over a cut start's cgroup: %v", err)
	}
	if got := d.mustExec("cgstart", "echo", "up"); strings.TrimSpace(got) != "up" {
		t.Errorf("exec in the started zone printed %q", got)
	}
	if err := d.c.DestroyZone(ctx, "cgstart", true); err != nil {
		t.Fatalf("destroy cgstart: %v", err)
	}
	if err := d.c.DestroyZone(ctx, "cgdestroy", true); err != nil {
		t.Fatalf("destroy over a cut start's cgroup: %v", err)
	}
	for _, dir := range made {
		if _, err := os.Lstat(dir); err == nil {
			t.Errorf("leak: %s left after destroy", dir)
		}
	}
}
