//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

const netMetric = "TCP throughput, one stream"

// network measures one TCP stream between two network namespaces joined
// by a bare veth pair (the baseline: no bridge, no filtering), and between
// two zones on a zoned bridge network once the daemon has networks
// (issue #4). Both use this binary's tcp-source and tcp-sink, so the
// figures differ only by the path the packets take. All addresses are in
// namespaces the benchmark made; nothing leaves the host.
func (b *Bench) network(ctx context.Context) error {
	sc := "6 network, zone to zone"
	secs := 5
	if b.cfg.Quick || b.cfg.Smoke {
		secs = 2
	}
	runs := b.cfg.Runs / 4
	if runs < 3 {
		runs = 3
	}
	if v, err := b.vethBaseline(ctx, runs, secs); err != nil {
		b.res.skip(sc, netMetric, "bare veth pair", "failed here: "+oneLine(err.Error()))
	} else {
		b.res.add(sc, netMetric, "bare veth pair", "Gbit/s", v, fmt.Sprintf("two netns, one veth pair, %d s per run", secs))
	}
	if !b.zoned.hasRoute(ctx, "/v1/networks") {
		b.res.skip(sc, netMetric, "zoned", "needs zoned networking (issue #4): the daemon has no /v1/networks")
		return ctx.Err()
	}
	v, err := b.zonedThroughput(ctx, runs, secs)
	if err != nil {
		b.res.skip(sc, netMetric, "zoned", "failed here: "+oneLine(err.Error()))
		return ctx.Err()
	}
	b.res.add(sc, netMetric, "zoned", "Gbit/s", v, fmt.Sprintf("two zones on a zoned bridge network, %d s per run", secs))
	return ctx.Err()
}

func (b *Bench) vethBaseline(ctx context.Context, runs, secs int) ([]float64, error) {
	nsA, nsB := "zoned-bench-"+b.id+"-a", "zoned-bench-"+b.id+"-b"
	vA, vB := "zx"+b.id+"a", "zx"+b.id+"b"
	for _, ns := range []string{nsA, nsB} {
		if err := runCmd(ctx, "ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		b.onCleanup("delete netns "+ns, func() error { return runCmd(context.Background(), "ip", "netns", "delete", ns) })
	}
	// Made inside nsA, so the pair never sits in the host's namespace and
	// goes when the namespaces go.
	steps := [][]string{
		{"ip", "-n", nsA, "link", "add", vA, "type", "veth", "peer", "name", vB, "netns", nsB},
		{"ip", "-n", nsA, "addr", "add", "10.254.0.1/30", "dev", vA},
		{"ip", "-n", nsB, "addr", "add", "10.254.0.2/30", "dev", vB},
		{"ip", "-n", nsA, "link", "set", vA, "up"},
		{"ip", "-n", nsB, "link", "set", vB, "up"},
		{"ip", "-n", nsA, "link", "set", "lo", "up"},
		{"ip", "-n", nsB, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := runCmd(ctx, s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	var out []float64
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		sink := exec.CommandContext(ctx, "ip", "netns", "exec", nsA, b.self, "tcp-sink", "-listen", "10.254.0.1:5201")
		if err := sink.Start(); err != nil {
			return nil, err
		}
		var res bytes.Buffer
		src := exec.CommandContext(ctx, "ip", "netns", "exec", nsB, b.self, "tcp-source", "-to", "10.254.0.1:5201", "-seconds", fmt.Sprint(secs))
		src.Stdout, src.Stderr = &res, &res
		err := src.Run()
		_ = sink.Wait()
		if err != nil {
			return nil, fmt.Errorf("tcp-source: %w: %s", err, res.String())
		}
		var gbps float64
		if _, err := fmt.Sscan(res.String(), &gbps); err != nil {
			return nil, fmt.Errorf("tcp-source said %q", res.String())
		}
		out = append(out, gbps)
	}
	return out, ctx.Err()
}

// zonedThroughput is written against the planned networking API (issue
// #4): POST /v1/networks {name, type: bridge, subnet} and
// CreateZoneRequest.NICs. It copies this (static) binary into each zone
// through exec's stdin and runs the same sink and source there.
func (b *Bench) zonedThroughput(ctx context.Context, runs, secs int) ([]float64, error) {
	z := b.zoned
	if _, err := z.ensureTemplate(ctx, api.CreateTemplateRequest{Name: "busybox", From: "builtin"}); err != nil {
		return nil, err
	}
	netName := "zb" + b.id
	if err := z.raw(ctx, http.MethodPost, "/v1/networks", map[string]any{"name": netName, "type": "bridge", "subnet": "10.253.0.0/24"}, nil); err != nil {
		return nil, err
	}
	b.onCleanup("delete zoned network "+netName, func() error {
		return z.raw(context.Background(), http.MethodDelete, "/v1/networks/"+netName, nil, nil)
	})
	zones := []string{"net-a", "net-b"}
	for _, name := range zones {
		req := api.CreateZoneRequest{Name: name, Template: "busybox", NICs: []api.NICRequest{{Network: netName, IPv4: []string{"auto"}}}}
		if _, err := z.c.CreateZone(ctx, req); err != nil {
			return nil, err
		}
		defer func() { _ = z.c.DestroyZone(context.Background(), name, true) }()
		if _, err := z.c.StartZone(ctx, name); err != nil {
			return nil, err
		}
		self, err := os.Open(b.self)
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		code, err := z.c.Exec(ctx, name, api.ExecRequest{Command: []string{"sh", "-c", "cat > /tmp/zb-tcp && chmod 755 /tmp/zb-tcp"}},
			client.ExecOptions{Stdin: self, Stdout: &out, Stderr: &out})
		self.Close()
		if err != nil || code != 0 {
			return nil, fmt.Errorf("copy the TCP helper into %s: code %d, %v: %s", name, code, err, out.String())
		}
	}
	za, err := z.c.GetZone(ctx, zones[0])
	if err != nil {
		return nil, err
	}
	if len(za.NICs) == 0 || len(za.NICs[0].IPv4) == 0 {
		return nil, errors.New("zone net-a has no IPv4 address")
	}
	addr, _, _ := strings.Cut(za.NICs[0].IPv4[0], "/")
	target := net.JoinHostPort(addr, "5201")
	var vals []float64
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		sinkDone := make(chan error, 1)
		go func() {
			_, _, err := z.exec(ctx, zones[0], "/tmp/zb-tcp", "tcp-sink", "-listen", ":5201")
			sinkDone <- err
		}()
		code, out, err := z.exec(ctx, zones[1], "/tmp/zb-tcp", "tcp-source", "-to", target, "-seconds", fmt.Sprint(secs))
		<-sinkDone
		if err != nil || code != 0 {
			return nil, fmt.Errorf("tcp-source in %s: code %d, %v: %s", zones[1], code, err, out)
		}
		var gbps float64
		if _, err := fmt.Sscan(out, &gbps); err != nil {
			return nil, fmt.Errorf("tcp-source said %q", out)
		}
		vals = append(vals, gbps)
	}
	return vals, ctx.Err()
}

// tcpMain is the hidden subcommands tcp-sink (accept one connection and
// read it to the end) and tcp-source (connect, retrying while the sink
// comes up, write for -seconds, print Gbit/s).
func tcpMain(mode string, args []string) {
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	listen := fs.String("listen", ":5201", "sink: address to listen on")
	to := fs.String("to", "", "source: sink's address")
	seconds := fs.Int("seconds", 2, "source: how long to send")
	_ = fs.Parse(args)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, mode+":", err)
		os.Exit(1)
	}
	if mode == "tcp-sink" {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			fail(err)
		}
		_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		c, err := l.Accept()
		if err != nil {
			fail(err)
		}
		n, _ := io.Copy(io.Discard, c)
		fmt.Println(n)
		return
	}
	var c net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = net.DialTimeout("tcp", *to, time.Second); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		fail(err)
	}
	buf := make([]byte, 256<<10)
	var sent int64
	begin := time.Now()
	end := begin.Add(time.Duration(*seconds) * time.Second)
	for time.Now().Before(end) {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			fail(err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		fail(err)
	}
	// Wait for the sink to have read everything (it closes on EOF).
	_, _ = io.Copy(io.Discard, c)
	el := time.Since(begin)
	fmt.Printf("%.3f\n", float64(sent)*8/el.Seconds()/1e9)
}
