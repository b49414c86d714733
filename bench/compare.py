#!/usr/bin/env python3
"""wharf side by side with its peers: one backend, the same load through each proxy and directly,
one table. Started by bench/compare.sh (which installs the peers); prints figures, asserts nothing.

Every proxy is pinned to core 0 (`taskset -c 0`, one worker/thread where the proxy has such a
setting); the load generator (wrk or h2load) and the nginx backend share core 1, so the backend
costs the same in every row. Each proxy is started fresh for each scenario; its CPU time is read
from /proc/<pid>/stat (utime+stime) before and after the load, its peak RSS from VmHWM after it.
Every figure printed comes from this run.

Besides the table: TLS handshakes (`openssl s_time`) and WebSocket echo (bench/src/bin/ws_echo.rs)
are rows of it; slow clients and a dying backend ("bad input under load") are their own sections
after it, since what they measure is not a rate.
"""

import argparse
import http.client
import json
import os
import selectors
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HZ = os.sysconf("SC_CLK_TCK")
PROXY_CORE = "0"
LOAD_CORE = "1"
NHOSTS = 10_000
MIDDLEWARES = 5
# Bad input: slow clients send their request head at one byte a second; every proxy is given the
# same header read timeout so the section shows whether, and when, it enforces it.
SLOW_CONNS = 500
HEADER_TIMEOUT = 10
# Dying backend: open-loop rate through the proxy, one phase of --secs before, during and after.
DYING_RATE = 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, host, path="/", deadline=120.0, proc=None):
    end = time.time() + deadline
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            r.read()
            c.close()
            if r.status < 400:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answers 2xx on port {port} for {host}{path}")


def wait_h2c(port, host, deadline=120.0, proc=None):
    end = time.time() + deadline
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            "--http2-prior-knowledge", "-H", f"Host: {host}",
                            f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
        if r.stdout.startswith("2"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing answers h2c on port {port} for {host}")


def wait_tls(port, deadline=120.0, proc=None):
    """Until an HTTP/1.0 request without Host nor ALPN (what s_time sends) gets a 2xx over TLS;
    curl would offer ALPN http/1.0, which rustls-based peers rightly refuse."""
    end = time.time() + deadline
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--http1.0",
                            "--no-alpn", "-H", "Host:", f"https://127.0.0.1:{port}/"],
                           capture_output=True, text=True)
        if r.stdout.startswith("2"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing answers 2xx over TLS on port {port}")


def ws_upgrades(port, host, path):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            c.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            return c.recv(64).startswith(b"HTTP/1.1 101")
    except OSError:
        return False


def wait_ws(port, host, path, deadline=120.0, proc=None):
    end = time.time() + deadline
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        if ws_upgrades(port, host, path):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no WebSocket upgrade on port {port}")


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def percentile(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


class Proc:
    def __init__(self, argv, log, core=PROXY_CORE, env=None, cwd=None):
        self.log = open(log, "ab")
        self.p = subprocess.Popen(
            ["taskset", "-c", core] + argv,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        self.pid = self.p.pid  # taskset execs the program: same pid

    def poll(self):
        return self.p.poll()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


# ---------------------------------------------------------------------------------------------
# Scenarios: what load, and what each proxy must be configured with.


class Scenario:
    def __init__(self, key, title, tool, **kw):
        self.key = key
        self.title = title
        self.tool = tool  # "wrk" | "h2" | "rate" | "tls" | "ws" | "slow" | "dying"
        self.path = kw.get("path", "/")
        self.conns = kw.get("conns", 50)
        self.close = kw.get("close", False)
        self.hosts = kw.get("hosts", 0)  # 0: one route, Host bench.local; N: N host routes
        self.chain = kw.get("chain", False)
        self.h2 = tool == "h2"
        self.rate = kw.get("rate", 0)
        self.tls = tool == "tls"
        self.tls_args = kw.get("tls_args", [])  # s_time: -new/-reuse, -tls1_3/-tls1_2
        self.ws = tool == "ws"
        self.slow = tool == "slow"  # proxies get HEADER_TIMEOUT
        self.backends = kw.get("backends", 1)  # dying: upstream servers behind the proxy
        self.section = tool in ("slow", "dying")  # printed after the table, not in it

    def host(self):
        return "h0.example.com" if self.hosts else "bench.local"

    def route_hosts(self):
        if self.hosts:
            return [f"h{i}.example.com" for i in range(self.hosts)]
        return ["bench.local"]


SCENARIOS = [
    Scenario("small", "small responses, keep-alive (wrk, 50 conns)", "wrk"),
    Scenario("1mib", "1 MiB responses (wrk, 10 conns)", "wrk", path="/big/1m", conns=10),
    Scenario("newconn", "new connection per request (wrk, Connection: close)", "wrk", close=True),
    Scenario("h2", "HTTP/2 h2c, 10 conns x 10 streams (h2load)", "h2"),
    Scenario("rate2k", "fixed rate 2,000 req/s, 10 conns (open loop)", "rate", rate=2000),
    Scenario("rate5k", "fixed rate 5,000 req/s, 10 conns (open loop)", "rate", rate=5000),
    Scenario("hosts1", "1 host route, host cycled (wrk Lua)", "wrk", hosts=1),
    Scenario("hosts10k", f"{NHOSTS:,} host routes, host cycled (wrk Lua)", "wrk", hosts=NHOSTS),
    Scenario("chain", f"chain of {MIDDLEWARES} middlewares (wrk, 50 conns)", "wrk",
             path="/api/hello", chain=True),
    Scenario("tls13new", "TLS 1.3 full handshakes (s_time -new; req = handshake)", "tls",
             tls_args=["-new", "-tls1_3"]),
    Scenario("tls13resume", "TLS 1.3 resumed handshakes (s_time -reuse; req = handshake)", "tls",
             tls_args=["-reuse", "-tls1_3"]),
    Scenario("tls12new", "TLS 1.2 full handshakes (s_time -new; req = handshake)", "tls",
             tls_args=["-new", "-tls1_2"]),
    Scenario("tls12resume", "TLS 1.2 resumed handshakes (s_time -reuse; req = handshake)", "tls",
             tls_args=["-reuse", "-tls1_2"]),
    Scenario("ws", "WebSocket echo, 50 conns, 64 B messages (ws_echo; req = message)", "ws",
             path="/ws"),
    Scenario("slow", f"{SLOW_CONNS} slow clients (1 byte/s) during wrk, header timeout "
             f"{HEADER_TIMEOUT}s", "slow"),
    Scenario("dying2", "backend 1 of 2 killed under load, then restarted", "dying", backends=2),
    Scenario("dying1", "the only backend killed under load, then restarted", "dying", backends=1),
]


# ---------------------------------------------------------------------------------------------
# Peers: each writes its config for a scenario and starts pinned to the proxy core.


class Ctx:
    def __init__(self, work, bport, bport_h2, bins):
        self.work = work
        self.bport = bport
        self.bport_h2 = bport_h2
        self.bins = bins
        self.ws_port = 0  # the ws_echo server, when a ws scenario runs
        self.dying_ports = []  # the dying scenarios' own backends
        self.cert = self.key = self.pem = ""  # one certificate for every TLS peer

    def upstreams(self, sc):
        """Ports the proxy forwards to in this scenario."""
        if sc.ws:
            return [self.ws_port]
        if sc.tool == "dying":
            return self.dying_ports[:sc.backends]
        return [self.bport]


def traefik_dynamic(sc, ctx):
    """The file-provider config shared by wharf and Traefik (wharf is a drop-in)."""
    lines = ["http:", "  routers:"]
    mws = ["allow", "reqhdr", "resphdr", "strip", "add"] if sc.chain else []
    for i, h in enumerate(sc.route_hosts()):
        # s_time's requests are HTTP/1.0 without a Host header: route on the path alone.
        rule = "PathPrefix(`/`)" if sc.tls else f"Host(`{h}`)"
        lines += [f"    r{i}:", f"      rule: \"{rule}\"", "      service: backend"]
        if sc.tls:
            lines.append("      tls: {}")
        if mws:
            lines.append(f"      middlewares: [{', '.join(mws)}]")
    if mws:
        lines += [
            "  middlewares:",
            "    allow:",
            "      ipAllowList:",
            "        sourceRange: [\"127.0.0.1/32\"]",
            "    reqhdr:",
            "      headers:",
            "        customRequestHeaders:",
            "          X-Bench: \"1\"",
            "    resphdr:",
            "      headers:",
            "        customResponseHeaders:",
            "          X-Served-By: \"proxy\"",
            "    strip:",
            "      stripPrefix:",
            "        prefixes: [\"/api\"]",
            "    add:",
            "      addPrefix:",
            "        prefix: \"/v1\"",
        ]
    lines += [
        "  services:",
        "    backend:",
        "      loadBalancer:",
        "        servers:",
    ] + [f"          - url: \"http://127.0.0.1:{p}\"" for p in ctx.upstreams(sc)]
    if sc.tls:
        # s_time sends no SNI: the certificate must be the default one.
        lines += [
            "tls:",
            "  certificates:",
            f"    - certFile: {ctx.cert}",
            f"      keyFile: {ctx.key}",
            "  stores:",
            "    default:",
            "      defaultCertificate:",
            f"        certFile: {ctx.cert}",
            f"        keyFile: {ctx.key}",
        ]
    path = os.path.join(ctx.work, f"dynamic-{sc.key}.yml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def traefik_static(sc, port, ctx):
    """Static flags shared by wharf and Traefik."""
    ep = "websecure" if sc.tls else "web"
    flags = [f"--entryPoints.{ep}.address=127.0.0.1:{port}",
             f"--providers.file.filename={traefik_dynamic(sc, ctx)}", "--log.level=ERROR"]
    if sc.slow:
        # readTimeout bounds the request head (and body), as Go's ReadTimeout.
        flags.append(f"--entryPoints.{ep}.transport.respondingTimeouts.readTimeout="
                     f"{HEADER_TIMEOUT}s")
    return flags


def start_wharf(sc, port, ctx):
    return Proc([ctx.bins["wharf"]] + traefik_static(sc, port, ctx),
                os.path.join(ctx.work, "wharf.log"))


def start_traefik(sc, port, ctx):
    return Proc([ctx.bins["traefik"]] + traefik_static(sc, port, ctx) + [
                 "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false"],
                os.path.join(ctx.work, "traefik.log"), env=dict(os.environ, GOMAXPROCS="1"))


def start_nginx(sc, port, ctx):
    d = os.path.join(ctx.work, f"nginx-peer-{sc.key}")
    os.makedirs(d, exist_ok=True)
    # A WebSocket upgrade must be passed on; otherwise clear Connection for upstream keep-alive.
    conn = ('proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection "upgrade";'
            if sc.ws else 'proxy_set_header Connection "";')
    fwd = f"""
      proxy_http_version 1.1;
      {conn}
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_buffering off;
      proxy_pass http://up;"""
    if sc.chain:
        loc = f"""
    location /api/ {{
      allow 127.0.0.1; deny all;
      rewrite ^/api(/.*)$ /v1$1 break;
      proxy_set_header X-Bench 1;
      add_header X-Served-By proxy;{fwd}
    }}"""
    else:
        loc = f"    location / {{{fwd}\n    }}"
    listen = f"127.0.0.1:{port}" + (" http2" if sc.h2 else "") + (" ssl" if sc.tls else "")
    extra = ""
    if sc.tls:
        extra = f"""
  ssl_certificate {ctx.cert};
  ssl_certificate_key {ctx.key};
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;"""
    if sc.slow:
        extra += f"\n  client_header_timeout {HEADER_TIMEOUT}s;"
    if sc.ws:
        extra += "\n  proxy_read_timeout 1h;"
    servers = "\n".join(
        f"  server {{ listen {listen}; server_name {h};\n{loc}\n  }}" for h in sc.route_hosts())
    ups = " ".join(f"server 127.0.0.1:{p};" for p in ctx.upstreams(sc))
    conf = f"""worker_processes 1;
master_process off;
daemon off;
error_log {d}/error.log crit;
pid {d}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  server_names_hash_max_size 65536;
  server_names_hash_bucket_size 128;{extra}
  upstream up {{ {ups} keepalive 64; keepalive_requests 1000000; }}
{servers}
}}
"""
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(conf)
    return Proc(["nginx", "-c", f"{d}/nginx.conf", "-p", d], os.path.join(ctx.work, "nginx-peer.log"))


def start_haproxy(sc, port, ctx):
    d = ctx.work
    with open(f"{d}/hosts-{sc.key}.map", "w") as f:
        for h in sc.route_hosts():
            f.write(f"{h} be\n")
    chain = ""
    if sc.chain:
        chain = r"""
  http-request deny if !{ src 127.0.0.1 }
  http-request replace-path ^/api(.*) \1
  http-request set-path /v1%[path]
  http-request set-header X-Bench 1
  http-response set-header X-Served-By proxy"""
    bind = f"127.0.0.1:{port}"
    proto = "http"
    timeouts = ""
    if sc.tls:
        bind += f" ssl crt {ctx.pem} alpn http/1.1 ssl-min-ver TLSv1.2"
        proto = "https"
        # s_time sends no Host header: everything goes to the one backend.
        chain += "\n  default_backend be"
    if sc.slow:
        timeouts += f"\n  timeout http-request {HEADER_TIMEOUT}s"
    if sc.ws:
        timeouts += "\n  timeout tunnel 1h"
    servers = "\n".join(f"  server s{i} 127.0.0.1:{p}"
                         for i, p in enumerate(ctx.upstreams(sc)))
    conf = f"""global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s{timeouts}
  option forwardfor
frontend fe
  bind {bind}
  http-request set-header X-Forwarded-Proto {proto}
  http-request set-header X-Forwarded-Host %[req.hdr(host)]{chain}
  use_backend %[req.hdr(host),lower,map({d}/hosts-{sc.key}.map)]
backend be
  http-reuse always
{servers}
"""
    with open(f"{d}/haproxy-{sc.key}.cfg", "w") as f:
        f.write(conf)
    return Proc(["haproxy", "-db", "-f", f"{d}/haproxy-{sc.key}.cfg"], os.path.join(d, "haproxy.log"))


def start_caddy(sc, port, ctx):
    blocks = []
    ups = " ".join(f"127.0.0.1:{p}" for p in ctx.upstreams(sc))
    for h in sc.route_hosts():
        if sc.chain:
            body = f"""  @allowed remote_ip 127.0.0.1/32
  handle @allowed {{
    uri strip_prefix /api
    rewrite * /v1{{uri}}
    header X-Served-By proxy
    reverse_proxy 127.0.0.1:{ctx.bport} {{
      header_up X-Bench 1
    }}
  }}
  respond 403"""
        elif sc.backends > 1:
            body = f"  reverse_proxy {ups} {{\n    lb_policy round_robin\n  }}"
        else:
            body = f"  reverse_proxy {ups}"
        if sc.tls:
            # Any host (s_time sends none), the generated certificate.
            blocks.append(f"https://:{port} {{\n  tls {ctx.cert} {ctx.key}\n{body}\n}}")
        else:
            blocks.append(f"http://{h}:{port} {{\n{body}\n}}")
    protocols = "h1" if sc.tls else "h1 h2c"
    timeouts = f"\n    timeouts {{\n      read_header {HEADER_TIMEOUT}s\n    }}" if sc.slow else ""
    # s_time sends no SNI.
    sni = "\n  default_sni bench.local" if sc.tls else ""
    conf = f"""{{
  admin off
  auto_https off{sni}
  servers {{
    protocols {protocols}{timeouts}
  }}
}}
""" + "\n".join(blocks) + "\n"
    path = os.path.join(ctx.work, f"Caddyfile-{sc.key}")
    with open(path, "w") as f:
        f.write(conf)
    env = dict(os.environ, GOMAXPROCS="1", HOME=ctx.work, XDG_DATA_HOME=ctx.work,
               XDG_CONFIG_HOME=ctx.work)
    return Proc(["caddy", "run", "--adapter", "caddyfile", "--config", path],
                os.path.join(ctx.work, "caddy.log"), env=env)


def start_envoy(sc, port, ctx):
    # s_time sends no Host header: any domain in the TLS rows.
    vhosts = [{"name": f"v{i}", "domains": ["*"] if sc.tls else [h],
               "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]}
              for i, h in enumerate(sc.route_hosts())]
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench",
        "codec_type": "AUTO",
        "route_config": {"name": "r", "virtual_hosts": vhosts},
        "http_filters": [{
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions."
                                      "filters.http.router.v3.Router"},
        }],
    }
    if sc.tls:
        # s_time speaks HTTP/1.0, which Envoy answers with 426 unless told otherwise.
        hcm["http_protocol_options"] = {"accept_http_10": True,
                                        "default_host_for_http_10": "bench.local"}
    if sc.ws:
        hcm["upgrade_configs"] = [{"upgrade_type": "websocket"}]
    if sc.slow:
        hcm["request_headers_timeout"] = f"{HEADER_TIMEOUT}s"
    chain = {"filters": [{"name": "envoy.filters.network.http_connection_manager",
                          "typed_config": hcm}]}
    if sc.tls:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                         "DownstreamTlsContext",
                "common_tls_context": {
                    "alpn_protocols": ["http/1.1"],
                    "tls_certificates": [{"certificate_chain": {"filename": ctx.cert},
                                          "private_key": {"filename": ctx.key}}],
                },
            },
        }
    endpoints = [{"endpoint": {"address": {"socket_address": {
        "address": "127.0.0.1", "port_value": p}}}} for p in ctx.upstreams(sc)]
    conf = {
        "static_resources": {
            "listeners": [{
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [chain],
            }],
            "clusters": [{
                "name": "backend",
                "type": "STATIC",
                "connect_timeout": "5s",
                "load_assignment": {"cluster_name": "backend",
                                    "endpoints": [{"lb_endpoints": endpoints}]},
            }],
        }
    }
    path = os.path.join(ctx.work, f"envoy-{sc.key}.json")
    with open(path, "w") as f:
        json.dump(conf, f)
    return Proc([ctx.bins["envoy"], "-c", path, "--concurrency", "1", "-l", "error",
                 "--base-id", str(port)], os.path.join(ctx.work, "envoy.log"))


def start_pingora(sc, port, ctx):
    return Proc([ctx.bins["pingora"], f"127.0.0.1:{port}", f"127.0.0.1:{ctx.upstreams(sc)[0]}"],
                os.path.join(ctx.work, "pingora.log"))


# name → (start, scenarios it can serve: None = all)
PEERS = {
    "wharf": (start_wharf, None),
    "nginx": (start_nginx, None),
    "haproxy": (start_haproxy, None),
    "pingora": (start_pingora, {"small", "1mib", "newconn", "rate2k", "rate5k", "ws", "dying1"}),
    "envoy": (start_envoy, {"small", "1mib", "newconn", "h2", "rate2k", "rate5k", "hosts1",
                            "hosts10k", "tls13new", "tls13resume", "tls12new", "tls12resume",
                            "ws", "slow", "dying2", "dying1"}),
    "caddy": (start_caddy, None),
    "traefik": (start_traefik, None),
}


# ---------------------------------------------------------------------------------------------
# Load generators.

PCT_LUA = r"""
local nhosts = tonumber(os.getenv("BENCH_NHOSTS") or "0")
local path = os.getenv("BENCH_PATH") or "/"
local reqs = {}
local k = 0
if nhosts > 0 then
  init = function(args)
    for i = 0, nhosts - 1 do
      reqs[i + 1] = wrk.format("GET", path, { Host = string.format("h%d.example.com", (i * 7919) % nhosts) })
    end
  end
  request = function()
    k = k % nhosts + 1
    return reqs[k]
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.6f %.3f %.3f %.3f %d\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(sc, port, secs, work):
    lua = os.path.join(work, "pct.lua")
    argv = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{sc.conns}", f"-d{secs}s",
            "-s", lua]
    if not sc.hosts:
        argv += ["-H", f"Host: {sc.host()}"]
    if sc.close:
        argv += ["-H", "Connection: close"]
    argv.append(f"http://127.0.0.1:{port}{sc.path}")
    env = dict(os.environ, BENCH_NHOSTS=str(sc.hosts), BENCH_PATH=sc.path)
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=secs + 60).stdout
    for line in out.splitlines():
        if line.startswith("RESULT"):
            _, reqs, dur, p50, p99, p999, errs = line.split()
            return {"reqs": int(reqs), "dur": float(dur), "p50": float(p50), "p99": float(p99),
                    "p999": float(p999), "errors": int(errs)}
    raise RuntimeError("wrk printed no RESULT:\n" + out)


def run_h2load(sc, port, secs, work, direct=False):
    log = os.path.join(work, "h2load.log")
    if os.path.exists(log):
        os.remove(log)
    argv = ["h2load", "-c10", "-m10", "-D", str(secs), "--log-file", log]
    argv += ["-H", f":authority: {sc.host()}"]
    argv.append(f"http://127.0.0.1:{port}/")
    out = subprocess.run(["taskset", "-c", LOAD_CORE] + argv, capture_output=True, text=True,
                         timeout=secs + 60).stdout
    lat = []
    ok = 0
    failed = 0
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            if parts[1].startswith("2"):
                ok += 1
                lat.append(int(parts[2]) / 1000.0)
            else:
                failed += 1
    lat.sort()
    if not lat:
        raise RuntimeError("h2load: no successful request:\n" + out)
    return {"reqs": ok, "dur": float(secs), "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "p999": percentile(lat, 99.9), "errors": failed}


def run_fixed_rate(sc, port, secs):
    """Open-loop fixed rate (bench/src/bin/fixed_rate.rs): h2load 1.52's --rps does not hold the
    rate over HTTP/1.1 and hangs at the end of -D."""
    argv = ["taskset", "-c", LOAD_CORE, os.environ["FIXED_RATE_BIN"],
            f"http://127.0.0.1:{port}{sc.path}", sc.host(), str(sc.rate), str(secs), "10"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60).stdout
    for line in out.splitlines():
        if line.startswith("RESULT"):
            _, reqs, dur, p50, p99, p999, errs = line.split()
            return {"reqs": int(reqs), "dur": float(dur), "p50": float(p50), "p99": float(p99),
                    "p999": float(p999), "errors": int(errs)}
    raise RuntimeError("fixed_rate printed no RESULT:\n" + out)


def run_tls(sc, port, secs):
    """`openssl s_time` (one connection at a time, each sending `GET /` so TLS 1.3 tickets arrive
    before it closes). Its own "real seconds" are whole seconds: the duration is timed here. It
    prints a character per connection, `r` when the session was resumed; in the -reuse rows the
    errors column counts the connections that were not."""
    argv = ["taskset", "-c", LOAD_CORE, "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
            "-www", "/", "-time", str(secs)] + sc.tls_args
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60).stdout
    dur = time.monotonic() - t0
    n = None
    marks = ""
    for line in out.splitlines():
        if "connections in" in line and "real seconds" in line:
            n = int(line.split()[0])
        elif line and set(line) <= set("r*t23"):
            marks += line
    if n is None:
        raise RuntimeError("s_time printed no count:\n" + out[-2000:])
    not_resumed = len(marks) - marks.count("r") if "-reuse" in sc.tls_args else 0
    nan = float("nan")
    return {"reqs": n, "dur": dur, "p50": nan, "p99": nan, "p999": nan, "errors": not_resumed}


def run_ws(sc, port, secs):
    argv = ["taskset", "-c", LOAD_CORE, os.environ["WS_ECHO_BIN"], "client",
            f"ws://127.0.0.1:{port}{sc.path}", sc.host(), str(sc.conns), str(secs)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60).stdout
    j = json.loads(out.strip().splitlines()[-1])
    if not j["conns"]:
        raise RuntimeError(f"no WebSocket connection upgraded: {j}")
    nan = float("nan")
    return {"reqs": j["msgs"], "dur": j["secs"], "p50": j["p50"] or nan, "p99": j["p99"] or nan,
            "p999": j["p999"] or nan, "errors": j["errors"]}


def measure(sc, port, secs, work, pid):
    t0 = cpu_ticks(pid) if pid else 0
    if sc.tool == "wrk":
        r = run_wrk(sc, port, secs, work)
    elif sc.tool == "rate":
        r = run_fixed_rate(sc, port, secs)
    elif sc.tls:
        r = run_tls(sc, port, secs)
    elif sc.ws:
        r = run_ws(sc, port, secs)
    else:
        r = run_h2load(sc, port, secs, work)
    if pid:
        t1 = cpu_ticks(pid)
        r["cpu_us"] = (t1 - t0) / HZ * 1e6 / max(r["reqs"], 1)
        r["rss_kib"] = peak_rss_kib(pid)
    return r


# ---------------------------------------------------------------------------------------------
# Bad input under load: sections of their own after the table.


def slow_clients(port, n, hold, host):
    """Hidden mode (`compare.py --slow-clients PORT N HOLD HOST`), run on the load core: N
    connections each send one request head a byte a second, for HOLD seconds at most. Prints
    `OPEN` once they are connected, then one JSON line: how many connected, how many the proxy
    closed and after how long (from each one's connect), and the first line of any answer."""
    # Far longer than HOLD seconds of bytes: the head never completes.
    head = (f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Slow: " + "a" * 4096 + "\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    conns = []
    failed = 0
    for _ in range(n):
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            failed += 1
            continue
        c.setblocking(False)
        st = {"sock": c, "opened": time.monotonic(), "sent": 0, "closed": None, "answer": b""}
        conns.append(st)
        sel.register(c, selectors.EVENT_READ, st)
    print("OPEN", flush=True)
    t0 = time.monotonic()
    # Stagger the bytes over the second so the proxy sees a steady trickle, not 500 at once.
    for i, st in enumerate(conns):
        st["next"] = t0 + i / max(len(conns), 1)

    def close(st, now):
        st["closed"] = now - st["opened"]
        sel.unregister(st["sock"])
        st["sock"].close()

    while time.monotonic() - t0 < hold:
        now = time.monotonic()
        live = [st for st in conns if st["closed"] is None]
        if not live:
            break
        for st in live:
            if st["next"] <= now and st["sent"] < len(head):
                try:
                    st["sock"].send(head[st["sent"]:st["sent"] + 1])
                    st["sent"] += 1
                except OSError:
                    close(st, now)
                    continue
                st["next"] += 1.0
        for key, _ in sel.select(timeout=0.05):
            st = key.data
            try:
                data = st["sock"].recv(4096)
            except OSError:
                data = b""
            if data:
                st["answer"] += data
            else:
                close(st, time.monotonic())
    closed = sorted(st["closed"] for st in conns if st["closed"] is not None)
    answers = {}
    for st in conns:
        if st["answer"]:
            line = st["answer"].split(b"\r\n", 1)[0].decode("latin-1")[:40]
            answers[line] = answers.get(line, 0) + 1
    print(json.dumps({"opened": len(conns), "failed": failed, "closed": closed,
                      "answers": answers, "hold": hold}), flush=True)


def run_slow(sc, name, start, ctx, secs, work):
    base = next(s for s in SCENARIOS if s.key == "small")  # the same wrk load as that row
    port = free_port()
    p = start(sc, port, ctx)
    try:
        wait_http(port, sc.host(), proc=p.p)
        before = run_wrk(base, port, secs, work)
        fds0 = open_fds(p.pid)
        # Long enough to see the header timeout fire after the loaded run.
        hold = max(HEADER_TIMEOUT + 5, secs + 5)
        helper = subprocess.Popen(
            ["taskset", "-c", LOAD_CORE, sys.executable, os.path.abspath(__file__),
             "--slow-clients", str(port), str(SLOW_CONNS), str(hold), sc.host()],
            stdout=subprocess.PIPE, text=True)
        helper.stdout.readline()  # OPEN
        # The most fds the proxy holds while the slow clients and wrk are both on it.
        peak = [open_fds(p.pid)]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.1):
                peak[0] = max(peak[0], open_fds(p.pid))
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            during = run_wrk(base, port, secs, work)
        finally:
            stop.set()
            sampler.join()
        fds1 = peak[0]
        out, _ = helper.communicate(timeout=hold + 60)
        slow = json.loads(out.strip().splitlines()[-1])
        fds2 = open_fds(p.pid)
        return {"section": "slow", "peer": name, "before": before, "during": during,
                "slow": slow, "fds": [fds0, fds1, fds2], "dur": secs}
    finally:
        p.stop()


def start_plain_nginx(work, name, port):
    """A small `return 200` nginx on the load core, for the dying-backend section (killed and
    restarted, so not the shared backend)."""
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    conf = f"""worker_processes 1;
master_process off;
daemon off;
error_log {d}/error.log crit;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "{name}\\n"; }} }}
}}
"""
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(conf)
    b = Proc(["nginx", "-c", f"{d}/nginx.conf", "-p", d], os.path.join(d, "log"), core=LOAD_CORE)
    wait_http(port, "backend", proc=b)
    return b


def run_dying(sc, name, start, ctx, secs, work):
    """Open-loop load for 3 × secs; the first backend is killed (SIGKILL) after secs and started
    again after 2 × secs. Every response's time and status come from fixed_rate's timeline; the
    proxy's fds and RSS are sampled every 0.2 s."""
    ports = ctx.dying_ports[:sc.backends]
    backs = [start_plain_nginx(work, f"dying{i}", bp) for i, bp in enumerate(ports)]
    port = free_port()
    p = start(sc, port, ctx)
    timeline = os.path.join(work, f"timeline-{name}-{sc.key}.txt")
    try:
        wait_http(port, sc.host(), proc=p.p)
        load = subprocess.Popen(
            ["taskset", "-c", LOAD_CORE, os.environ["FIXED_RATE_BIN"], f"http://127.0.0.1:{port}/",
             sc.host(), str(DYING_RATE), str(3 * secs), "10", timeline],
            stdout=subprocess.PIPE, text=True)
        t0 = time.time()
        killed = back = None
        samples = []
        while load.poll() is None:
            # Sampled before acting, so a sample dated before the kill shows the state before it.
            now = time.time()
            samples.append((now, open_fds(p.pid), rss_kib(p.pid)))
            if killed is None and now >= t0 + secs:
                backs[0].p.send_signal(signal.SIGKILL)
                backs[0].stop()
                killed = time.time()
            elif killed is not None and back is None and now >= t0 + 2 * secs:
                backs[0] = start_plain_nginx(work, "dying0", ports[0])
                back = time.time()  # answering again
            time.sleep(0.2)
        events = []  # (due, done, status), Unix times in seconds
        with open(timeline) as f:
            for line in f:
                due, done, status = line.split()
                events.append((float(due) / 1e3, float(done) / 1e3, int(status)))
        return {"section": "dying", "peer": name, "scenario": sc.key, "backends": sc.backends,
                "killed": killed, "back": back, "events": events, "samples": samples,
                "end": time.time()}
    finally:
        p.stop()
        for b in backs:
            b.stop()


def summarize_dying(r):
    killed, back = r["killed"], r["back"]
    if killed is None or back is None:
        return None
    # Requests are placed by when they were due: a proxy that holds a request until the backend
    # is back (retries) answers it late, not in the outage; its latency shows it.
    out = [(done - due, st) for due, done, st in r["events"] if killed <= due < back]
    codes = {}
    for _, st in out:
        if not 200 <= st < 300:
            codes[st] = codes.get(st, 0) + 1
    lat = sorted(x for x, _ in out)
    bad_after = [due for due, _, st in r["events"] if due >= back and not 200 <= st < 300]
    # Recovered: the last failed request due after the backend answers again (0: none failed).
    recover = (max(bad_after) - back) if bad_after else 0.0
    before = [s for s in r["samples"] if s[0] < killed] or [(0, -1, 0)]
    during = [s for s in r["samples"] if killed <= s[0] < back] or [(0, -1, 0)]
    after = [s for s in r["samples"] if s[0] >= back] or [(0, -1, 0)]
    return {
        "outage_reqs": len(out),
        "outage_bad": sum(codes.values()),
        "codes": codes,
        "bad_after": len(bad_after),
        "recover_s": recover,
        "reqs_after": sum(1 for due, _, _ in r["events"] if due >= back),
        "outage_p99_ms": percentile(lat, 99) * 1e3,
        "outage_max_ms": lat[-1] * 1e3 if lat else float("nan"),
        # Before: the last sample before the kill; during: the highest; after: the last one.
        "fds": (before[-1][1], max(s[1] for s in during), after[-1][1]),
        "rss": (before[-1][2], max(s[2] for s in during), after[-1][2]),
    }


# ---------------------------------------------------------------------------------------------


def start_backend(work):
    d = os.path.join(work, "backend")
    os.makedirs(os.path.join(d, "www", "big"), exist_ok=True)
    with open(os.path.join(d, "www", "big", "1m"), "wb") as f:
        f.write(os.urandom(1 << 20))
    bport, bport_h2 = free_port(), free_port()
    conf = f"""worker_processes 1;
master_process off;
daemon off;
error_log {d}/error.log crit;
pid {d}/nginx.pid;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  sendfile on;
  server {{
    listen 127.0.0.1:{bport};
    listen 127.0.0.1:{bport_h2} http2;
    location /big/ {{ root {d}/www; }}
    location / {{ return 200 "hello from the backend\\n"; }}
  }}
}}
"""
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(conf)
    p = Proc(["nginx", "-c", f"{d}/nginx.conf", "-p", d], os.path.join(d, "log"), core=LOAD_CORE)
    wait_http(bport, "backend", proc=p)
    return p, bport, bport_h2


def fmt_ms(v):
    return f"{v:.3f}" if v == v else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--scenarios", default=",".join(s.key for s in SCENARIOS))
    ap.add_argument("--json", help="also write the rows to this file")
    a = ap.parse_args()
    # A terminated run still stops its backends and proxies (the finally blocks below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bins = {
        "wharf": os.environ["WHARF_BIN"],
        "traefik": os.environ.get("TRAEFIK_BIN", ""),
        "envoy": os.environ.get("ENVOY_BIN", ""),
        "pingora": os.environ.get("PINGORA_BIN", ""),
    }
    peers = []
    for name in a.peers.split(","):
        if name in bins and not bins[name]:
            print(f"# {name}: not available, skipped", file=sys.stderr)
            continue
        if name not in ("wharf", "traefik", "envoy", "pingora") and not shutil.which(name):
            print(f"# {name}: not installed, skipped", file=sys.stderr)
            continue
        peers.append(name)
    wanted = set(a.scenarios.split(","))
    work = tempfile.mkdtemp(prefix="wharf-compare-")
    with open(os.path.join(work, "pct.lua"), "w") as f:
        f.write(PCT_LUA)
    backend, bport, bport_h2 = start_backend(work)
    ctx = Ctx(work, bport, bport_h2, bins)
    helpers = []
    if any(s.tls for s in SCENARIOS if s.key in wanted):
        # One certificate (ECDSA P-256) for every peer, as bench/tls.sh.
        ctx.cert, ctx.key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
                        "/CN=bench.local", "-addext", "subjectAltName=DNS:bench.local",
                        "-keyout", ctx.key, "-out", ctx.cert], check=True, capture_output=True)
        ctx.pem = os.path.join(work, "cert+key.pem")  # HAProxy wants both in one file
        with open(ctx.pem, "w") as f:
            f.write(open(ctx.cert).read() + open(ctx.key).read())
    if "ws" in wanted:
        # The echo server shares the load core with the nginx backend.
        ctx.ws_port = free_port()
        helpers.append(Proc([os.environ["WS_ECHO_BIN"], "server", f"127.0.0.1:{ctx.ws_port}"],
                            os.path.join(work, "ws_echo.log"), core=LOAD_CORE))
    ctx.dying_ports = [free_port(), free_port()]
    rows = []
    sections = []
    try:
        for sc in SCENARIOS:
            if sc.key not in wanted:
                continue
            print(f"# {sc.title}", file=sys.stderr, flush=True)
            dport = bport_h2 if sc.h2 else bport
            if sc.ws:
                dport = ctx.ws_port
                wait_ws(dport, sc.host(), sc.path)
            # No direct row for TLS (the backend speaks plain HTTP) nor for the sections.
            if not sc.hosts and not sc.chain and not sc.tls and not sc.section:
                r = measure(sc, dport, a.secs, work, None)
                rows.append(dict(r, scenario=sc.key, peer="direct"))
            for name in peers:
                start, only = PEERS[name]
                if only is not None and sc.key not in only:
                    continue
                if sc.section:
                    try:
                        run = run_slow if sc.slow else run_dying
                        sections.append(dict(run(sc, name, start, ctx, a.secs, work),
                                             scenario=sc.key))
                    except Exception as e:  # a peer that fails is reported, the run goes on
                        print(f"# {name} / {sc.key}: {e}", file=sys.stderr, flush=True)
                    continue
                port = free_port()
                p = start(sc, port, ctx)
                try:
                    if sc.h2:
                        wait_h2c(port, sc.host(), proc=p.p)
                    elif sc.tls:
                        wait_tls(port, proc=p.p)
                    elif sc.ws:
                        wait_ws(port, sc.host(), sc.path, proc=p.p)
                    else:
                        wait_http(port, sc.host(), sc.path if sc.chain else "/", proc=p.p)
                    r = measure(sc, port, a.secs, work, p.pid)
                    rows.append(dict(r, scenario=sc.key, peer=name))
                except Exception as e:  # a peer that fails is reported, the run goes on
                    print(f"# {name} / {sc.key}: {e}", file=sys.stderr, flush=True)
                finally:
                    p.stop()
    finally:
        for h in helpers:
            h.stop()
        backend.stop()
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "sections": sections}, f, indent=1)
    if rows:
        print_table(rows, a.secs)
    print_slow([r for r in sections if r["section"] == "slow"])
    print_dying([r for r in sections if r["section"] == "dying"], a.secs)


def print_table(rows, secs):
    titles = {s.key: s.title for s in SCENARIOS}
    print(f"proxy pinned to core {PROXY_CORE}; load generator + nginx backend on core "
          f"{LOAD_CORE}; {secs}s per row; ratios are peer / wharf (req/s, CPU);")
    print("+p99 = the row's p99 minus direct's p99 in the same scenario (fixed-rate rows); "
          "TLS rows: req = handshake, errors = connections not resumed; ws rows: req = message")
    hdr = ("scenario", "peer", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "CPU us/req",
           "peak RSS MiB", "errors", "req/s vs wharf", "CPU vs wharf", "+p99 ms")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join([" --- "] * len(hdr)) + "|")
    by = {}
    for r in rows:
        by[(r["scenario"], r["peer"])] = r
    done_titles = set()
    for r in rows:
        rps = r["reqs"] / r["dur"]
        w = by.get((r["scenario"], "wharf"))
        d = by.get((r["scenario"], "direct"))
        wr = w["reqs"] / w["dur"] if w else None
        cpu = r.get("cpu_us")
        ratio = f"{rps / wr:.2f}x" if wr and r["peer"] != "wharf" else "-"
        cratio = (f"{cpu / w['cpu_us']:.2f}x" if w and cpu is not None and r["peer"] != "wharf"
                  else "-")
        added = (f"{r['p99'] - d['p99']:+.3f}" if d and r["scenario"].startswith("rate")
                 and r["peer"] != "direct" else "-")
        sc = titles[r["scenario"]] if r["scenario"] not in done_titles else '"'
        done_titles.add(r["scenario"])
        cells = (sc, r["peer"], f"{rps:,.0f}", fmt_ms(r["p50"]), fmt_ms(r["p99"]),
                 fmt_ms(r["p999"]), f"{cpu:.1f}" if cpu is not None else "-",
                 f"{r['rss_kib'] / 1024:.1f}" if "rss_kib" in r else "-", str(r["errors"]),
                 ratio, cratio, added)
        print("| " + " | ".join(cells) + " |")


def print_slow(results):
    if not results:
        return
    print()
    print(f"slow clients: {SLOW_CONNS} connections send a request head at 1 byte/s while wrk "
          f"runs its small keep-alive load (50 conns); every proxy has a {HEADER_TIMEOUT}s header "
          "read timeout")
    hdr = ("peer", "req/s", "p50 ms", "p99 ms", "req/s with slow", "p50 ms with slow",
           "p99 ms with slow", "slow connected", "closed by proxy", "closed after s (min/p50/max)",
           "answers", "proxy fds before/with slow/after")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join([" --- "] * len(hdr)) + "|")
    for r in results:
        b, d, sl = r["before"], r["during"], r["slow"]
        closed = sl["closed"]
        when = (f"{closed[0]:.1f}/{percentile(closed, 50):.1f}/{closed[-1]:.1f}" if closed
                else f"none within {sl['hold']:.0f}s")
        answers = ", ".join(f"{k} ×{v}" for k, v in sl["answers"].items()) or "none"
        cells = (r["peer"], f"{b['reqs'] / b['dur']:,.0f}", fmt_ms(b["p50"]), fmt_ms(b["p99"]),
                 f"{d['reqs'] / d['dur']:,.0f}", fmt_ms(d["p50"]), fmt_ms(d["p99"]),
                 f"{sl['opened']}" + (f" ({sl['failed']} refused)" if sl["failed"] else ""),
                 f"{len(closed)}", when, answers, "/".join(str(x) for x in r["fds"]))
        print("| " + " | ".join(cells) + " |")


def print_dying(results, secs):
    if not results:
        return
    print()
    print(f"dying backend: fixed_rate {DYING_RATE:,} req/s, 10 keep-alive conns, {3 * secs}s; "
          f"one backend SIGKILLed at {secs}s and started again at {2 * secs}s; outage = requests "
          "due between the kill and the backend answering again; latency from when each was due")
    hdr = ("peer", "backends", "outage: failed / requests", "failed by status",
           "outage p99 / max ms", "failed after restart", "recovered after s",
           "proxy fds before/outage max/end",
           "proxy RSS MiB before/outage max/end")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join([" --- "] * len(hdr)) + "|")
    for r in results:
        m = summarize_dying(r)
        if m is None:
            continue
        share = m["outage_bad"] / m["outage_reqs"] if m["outage_reqs"] else float("nan")
        codes = ", ".join(f"{'no response' if k == 0 else k} ×{v}"
                          for k, v in sorted(m["codes"].items())) or "-"
        cells = (r["peer"], f"{r['backends']}",
                 f"{m['outage_bad']:,} / {m['outage_reqs']:,} ({share:.1%})", codes,
                 f"{fmt_ms(m['outage_p99_ms'])} / {fmt_ms(m['outage_max_ms'])}",
                 f"{m['bad_after']:,} / {m['reqs_after']:,}", f"{m['recover_s']:.2f}",
                 "/".join(str(x) for x in m["fds"]),
                 "/".join(f"{x / 1024:.1f}" for x in m["rss"]))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--slow-clients":
        slow_clients(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        main()
