#!/usr/bin/env python3
"""A minimal control panel for zoned, with nothing but Python's standard
library: HTTP/1.1 over zoned's Unix socket (http.client with an AF_UNIX
socket) or over HTTPS with a client certificate and the daemon's pinned
fingerprint, JSON bodies, and the NDJSON event stream.

It creates a zone, starts it while watching the zone's events, shows it,
stops and destroys it, and prints each step. On the daemon's host, run it
as root or as a member of the group "zoned":

    python3 docs/examples/panel.py --socket /run/zoned/zoned.sock --zone panel1

From another machine, with the certificate and key a client enrolled with
(zonectl remote add keeps them in ~/.config/zonectl) and the fingerprint
`zonectl info` shows:

    python3 docs/examples/panel.py --url https://host1:8443 \
        --cert ~/.config/zonectl/remotes/host1.crt --key ~/.config/zonectl/client.key \
        --fingerprint sha256:… --zone panel1

Exit status 0 means every step worked and the events arrived.
"""

import argparse
import hashlib
import http.client
import json
import queue
import socket
import ssl
import sys
import threading
import urllib.parse


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket: only connect() differs."""

    def __init__(self, path, timeout=300):
        super().__init__("zoned", timeout=timeout)  # the Host header
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """http.client over TLS 1.3 with a client certificate. No authority
    vouches for the daemon: its certificate's SHA-256 is pinned instead."""

    def __init__(self, host, port, context, fingerprint, timeout=300):
        super().__init__(host, port, context=context, timeout=timeout)
        self.fingerprint = fingerprint

    def connect(self):
        super().connect()
        der = self.sock.getpeercert(binary_form=True)
        got = "sha256:" + hashlib.sha256(der).hexdigest()
        if got != self.fingerprint:
            self.close()
            raise ssl.SSLError(f"server certificate {got} is not the pinned {self.fingerprint}")


def https_connector(url, cert, key, fingerprint):
    """A function that opens a connection to the daemon at url."""
    u = urllib.parse.urlsplit(url)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # pinned by fingerprint in connect()
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    return lambda timeout=300: PinnedHTTPSConnection(u.hostname, u.port or 8443, ctx, fingerprint, timeout)


class ZonedError(Exception):
    """An API error: zoned's JSON error body, with the HTTP status."""

    def __init__(self, status, body):
        self.status = status
        self.code = body.get("code", "")
        self.field = body.get("field", "")
        super().__init__(f"{status} {self.code}: {body.get('message', '')}")


class Zoned:
    def __init__(self, connect):
        self.connect = connect  # opens a connection: socket or HTTPS

    def call(self, method, url, body=None, headers=None):
        """One request on its own connection; returns (json, headers)."""
        conn = self.connect()
        try:
            hdrs = dict(headers or {})
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            conn.request(method, url, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            out = json.loads(raw) if raw else None
            if resp.status >= 400:
                raise ZonedError(resp.status, out or {})
            return out, resp.headers
        finally:
            conn.close()

    def events(self, zone, out, ready):
        """Put the zone's events on queue out until the stream ends."""
        conn = self.connect(timeout=None)
        conn.request("GET", f"/v1/events?zone={zone}")
        resp = conn.getresponse()
        if resp.status != 200:
            out.put({"type": "error", "message": f"events: HTTP {resp.status}"})
            return
        ready.set()
        for line in resp:  # NDJSON: one event a line
            if line.strip():
                out.put(json.loads(line))
        out.put(None)


def wait_for(events, want, zone):
    """Read events until one of type want about zone arrives."""
    while True:
        e = events.get(timeout=120)
        if e is None:
            raise RuntimeError("event stream ended")
        print(f"  event: {e['type']} {e.get('state', '')} {e.get('message', '')}".rstrip())
        if e["type"] == "error":
            raise RuntimeError(e.get("message"))
        if e["type"] == want and e.get("zone") == zone:
            return e


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", default="/run/zoned/zoned.sock")
    ap.add_argument("--url", help="https://HOST:PORT of the daemon, instead of its socket")
    ap.add_argument("--cert", help="client certificate (PEM) the daemon trusts")
    ap.add_argument("--key", help="the certificate's key (PEM)")
    ap.add_argument("--fingerprint", help="the daemon's certificate, sha256:…, as zonectl info shows it")
    ap.add_argument("--zone", default="panel1")
    ap.add_argument("--template", default="busybox")
    args = ap.parse_args()
    if args.url:
        if not (args.cert and args.key and args.fingerprint):
            ap.error("--url needs --cert, --key and --fingerprint")
        z = Zoned(https_connector(args.url, args.cert, args.key, args.fingerprint))
    else:
        z = Zoned(lambda timeout=300: UnixHTTPConnection(args.socket, timeout))

    info, _ = z.call("GET", "/v1/info")
    print(f"zoned {info['version']} on kernel {info['kernel']}, {info['zones']} zones")

    # Events first, so nothing that happens after this is missed.
    events, ready = queue.Queue(), threading.Event()
    threading.Thread(target=z.events, args=(args.zone, events, ready), daemon=True).start()
    if not ready.wait(30):
        raise RuntimeError("event stream did not open")

    zone, _ = z.call("POST", "/v1/zones", {
        "name": args.zone, "template": args.template,
        "resources": {"memory_bytes": 128 << 20, "pids_max": 256},
        "labels": {"customer": "c1042", "plan": "example"},
    })
    print(f"created {zone['name']}: {zone['state']}")
    wait_for(events, "zone-created", args.zone)

    zone, _ = z.call("POST", f"/v1/zones/{args.zone}/start")
    print(f"started {zone['name']}: {zone['state']}, init pid {zone.get('init_pid')}")
    wait_for(events, "zone-started", args.zone)

    zone, headers = z.call("GET", f"/v1/zones/{args.zone}")
    usage = zone.get("usage") or {}
    print(f"{zone['name']}: {zone['state']}, memory {usage.get('memory_bytes', 0)} bytes, "
          f"{usage.get('processes', 0)} processes, labels {zone.get('labels')}")

    # A config change that cannot overwrite someone else's: If-Match.
    zone, _ = z.call("PATCH", f"/v1/zones/{args.zone}",
                     {"resources": {"memory_bytes": 256 << 20}}, {"If-Match": headers["ETag"]})
    print(f"memory limit now {zone['resources']['memory_bytes']} bytes")
    try:
        z.call("PATCH", f"/v1/zones/{args.zone}", {"autostart": True}, {"If-Match": headers["ETag"]})
        raise RuntimeError("a stale If-Match was accepted")
    except ZonedError as e:
        print(f"stale write refused as it must be: {e}")

    zones, _ = z.call("GET", "/v1/zones?label=customer=c1042")
    print(f"zones of customer c1042: {[x['name'] for x in zones]}")

    zone, _ = z.call("POST", f"/v1/zones/{args.zone}/stop", {"timeout_seconds": 10})
    print(f"stopped {zone['name']}: {zone['state']}")
    wait_for(events, "zone-stopped", args.zone)

    z.call("DELETE", f"/v1/zones/{args.zone}")
    wait_for(events, "zone-destroyed", args.zone)
    print(f"destroyed {args.zone}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ZonedError, RuntimeError, OSError, ssl.SSLError, queue.Empty) as e:
        print(f"panel: {e!r}", file=sys.stderr)
        sys.exit(1)
