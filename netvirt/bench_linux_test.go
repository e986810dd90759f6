package netvirt

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// iperf measures TCP throughput from the namespace of client to addr in
// the namespace of server, in bits/s.
func iperf(b *testing.B, server, client int, addr string) float64 {
	b.Helper()
	srv := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(server)+"/ns/net", "iperf3", "-s", "-1", "-B", addr)
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	var out []byte
	var err error
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		out, err = exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(client)+"/ns/net", "iperf3", "-c", addr, "-t", "3", "-J").Output()
		if err == nil {
			break
		}
	}
	if err != nil {
		b.Fatalf("iperf3: %v: %s", err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatal(err)
	}
	return res.End.SumReceived.BitsPerSecond
}

// BenchmarkThroughput compares, in one run, TCP throughput between two
// zone namespaces over a bare veth pair, over zoned's bridge, and over
// the bridge with anti-spoofing rules on both ports. Run with
// -benchtime=1x: each iteration is three 3-second iperf3 runs.
func BenchmarkThroughput(b *testing.B) {
	requireNetns(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (Debian package iperf3)")
	}
	a, z := fakeZone(b), fakeZone(b)
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	// A bare veth pair straight between the two namespaces.
	run("ip", "link", "add", "zvbare0", "type", "veth", "peer", "name", "zvbare1")
	run("ip", "link", "set", "zvbare0", "netns", strconv.Itoa(a))
	run("ip", "link", "set", "zvbare1", "netns", strconv.Itoa(z))
	for pid, addr := range map[int]string{a: "10.90.0.1/24", z: "10.90.0.2/24"} {
		dev := map[int]string{a: "zvbare0", z: "zvbare1"}[pid]
		inZone(b, pid, "ip", "addr", "add", addr, "dev", dev)
		inZone(b, pid, "ip", "link", "set", dev, "up")
	}
	// zoned's way: each namespace's eth0 on a bridge.
	br := testOwner.BridgeName("bench")
	if err := testOwner.EnsureBridge(br, netip.MustParsePrefix("10.91.0.1/24"), 0, false); err != nil {
		b.Fatal(err)
	}
	defer DeleteLink(br)
	var ports []Port
	for i, pid := range []int{a, z} {
		id := fmt.Sprint("bench", i)
		nic := NIC{Name: "eth0", HostIf: HostIfName(id, "eth0"), MAC: StableMAC(id, "eth0"), IPv4: []string{fmt.Sprintf("10.91.0.%d/24", i+2)}}
		if err := testOwner.AttachVeth(pid, br, nic); err != nil {
			b.Fatal(err)
		}
		defer DeleteLink(nic.HostIf)
		ports = append(ports, Port{HostIf: nic.HostIf, MAC: nic.MAC, IPv4: nic.IPv4})
	}
	var bare, bridge, spoof float64
	for i := 0; i < b.N; i++ {
		bare += iperf(b, z, a, "10.90.0.2")
		bridge += iperf(b, z, a, "10.91.0.3")
		if err := testOwner.ResetPorts(ports); err != nil {
			b.Fatal(err)
		}
		spoof += iperf(b, z, a, "10.91.0.3")
		if err := testOwner.ResetPorts(nil); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(bare/n/1e9, "bare-Gbit/s")
	b.ReportMetric(bridge/n/1e9, "bridge-Gbit/s")
	b.ReportMetric(spoof/n/1e9, "antispoof-Gbit/s")
	b.ReportMetric(100*bridge/bare, "bridge/bare-%")
	b.ReportMetric(100*spoof/bridge, "antispoof/plain-%")
}

// BenchmarkAttachNIC is the host side of adding a NIC to a running zone:
// veth into its namespace, addresses and route, anti-spoofing rules.
func BenchmarkAttachNIC(b *testing.B) {
	requireNetns(b)
	pid := fakeZone(b)
	br := testOwner.BridgeName("bench-add")
	if err := testOwner.EnsureBridge(br, netip.MustParsePrefix("10.92.0.1/24"), 0, false); err != nil {
		b.Fatal(err)
	}
	defer DeleteLink(br)
	for i := 0; i < b.N; i++ {
		nic := NIC{Name: "eth0", HostIf: HostIfName("add", strconv.Itoa(i)), MAC: StableMAC("add", strconv.Itoa(i)), IPv4: []string{"10.92.0.2/24"}, Gateway: "10.92.0.1"}
		if err := testOwner.AttachVeth(pid, br, nic); err != nil {
			b.Fatal(err)
		}
		if err := testOwner.AddPort(Port{HostIf: nic.HostIf, MAC: nic.MAC, IPv4: nic.IPv4}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := testOwner.RemovePort(nic.HostIf); err != nil {
			b.Fatal(err)
		}
		if err := DeleteLink(nic.HostIf); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
