#!/usr/bin/env python3
"""wharf side by side with its peers: one backend, the same load through each proxy and directly,
one table. Started by bench/compare.sh (which installs the peers); prints figures, asserts nothing.

Every proxy is pinned to core 0 (`taskset -c 0`, one worker/thread where the proxy has such a
setting); the load generator (wrk or h2load) and the nginx backend share core 1, so the backend
costs the same in every row. Each proxy is started fresh for each scenario; its CPU time is read
from /proc/<pid>/stat (utime+stime) before and after the load, its peak RSS from VmHWM after it.
Every figure printed comes from this run.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")
PROXY_CORE = "0"
LOAD_CORE = "1"
NHOSTS = 10_000
MIDDLEWARES = 5


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
        self.tool = tool  # "wrk" | "h2" | "rate"
        self.path = kw.get("path", "/")
        self.conns = kw.get("conns", 50)
        self.close = kw.get("close", False)
        self.hosts = kw.get("hosts", 0)  # 0: one route, Host bench.local; N: N host routes
        self.chain = kw.get("chain", False)
        self.h2 = tool == "h2"
        self.rate = kw.get("rate", 0)

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
]


# ---------------------------------------------------------------------------------------------
# Peers: each writes its config for a scenario and starts pinned to the proxy core.


class Ctx:
    def __init__(self, work, bport, bport_h2, bins):
        self.work = work
        self.bport = bport
        self.bport_h2 = bport_h2
        self.bins = bins


def traefik_dynamic(sc, ctx):
    """The file-provider config shared by wharf and Traefik (wharf is a drop-in)."""
    lines = ["http:", "  routers:"]
    mws = ["allow", "reqhdr", "resphdr", "strip", "add"] if sc.chain else []
    for i, h in enumerate(sc.route_hosts()):
        lines += [f"    r{i}:", f"      rule: \"Host(`{h}`)\"", "      service: backend"]
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
        f"          - url: \"http://127.0.0.1:{ctx.bport}\"",
    ]
    path = os.path.join(ctx.work, f"dynamic-{sc.key}.yml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def start_wharf(sc, port, ctx):
    dyn = traefik_dynamic(sc, ctx)
    return Proc([ctx.bins["wharf"], f"--entryPoints.web.address=127.0.0.1:{port}",
                 f"--providers.file.filename={dyn}", "--log.level=ERROR"],
                os.path.join(ctx.work, "wharf.log"))


def start_traefik(sc, port, ctx):
    dyn = traefik_dynamic(sc, ctx)
    return Proc([ctx.bins["traefik"], f"--entryPoints.web.address=127.0.0.1:{port}",
                 f"--providers.file.filename={dyn}", "--log.level=ERROR",
                 "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false"],
                os.path.join(ctx.work, "traefik.log"), env=dict(os.environ, GOMAXPROCS="1"))


def start_nginx(sc, port, ctx):
    d = os.path.join(ctx.work, f"nginx-peer-{sc.key}")
    os.makedirs(d, exist_ok=True)
    fwd = """
      proxy_http_version 1.1;
      proxy_set_header Connection "";
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
    listen = f"127.0.0.1:{port}" + (" http2" if sc.h2 else "")
    servers = "\n".join(
        f"  server {{ listen {listen}; server_name {h};\n{loc}\n  }}" for h in sc.route_hosts())
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
  server_names_hash_bucket_size 128;
  upstream up {{ server 127.0.0.1:{ctx.bport}; keepalive 64; keepalive_requests 1000000; }}
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
    conf = f"""global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option forwardfor
frontend fe
  bind 127.0.0.1:{port}
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]{chain}
  use_backend %[req.hdr(host),lower,map({d}/hosts-{sc.key}.map)]
backend be
  http-reuse always
  server s1 127.0.0.1:{ctx.bport}
"""
    with open(f"{d}/haproxy-{sc.key}.cfg", "w") as f:
        f.write(conf)
    return Proc(["haproxy", "-db", "-f", f"{d}/haproxy-{sc.key}.cfg"], os.path.join(d, "haproxy.log"))


def start_caddy(sc, port, ctx):
    blocks = []
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
        else:
            body = f"  reverse_proxy 127.0.0.1:{ctx.bport}"
        blocks.append(f"http://{h}:{port} {{\n{body}\n}}")
    conf = f"""{{
  admin off
  auto_https off
  servers {{
    protocols h1 h2c
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
    vhosts = [{"name": f"v{i}", "domains": [h],
               "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]}
              for i, h in enumerate(sc.route_hosts())]
    conf = {
        "static_resources": {
            "listeners": [{
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
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
                    },
                }]}],
            }],
            "clusters": [{
                "name": "backend",
                "type": "STATIC",
                "connect_timeout": "5s",
                "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": [{
                    "endpoint": {"address": {"socket_address": {
                        "address": "127.0.0.1", "port_value": ctx.bport}}}}]}]},
            }],
        }
    }
    path = os.path.join(ctx.work, f"envoy-{sc.key}.json")
    with open(path, "w") as f:
        json.dump(conf, f)
    return Proc([ctx.bins["envoy"], "-c", path, "--concurrency", "1", "-l", "error",
                 "--base-id", str(port)], os.path.join(ctx.work, "envoy.log"))


def start_pingora(sc, port, ctx):
    return Proc([ctx.bins["pingora"], f"127.0.0.1:{port}", f"127.0.0.1:{ctx.bport}"],
                os.path.join(ctx.work, "pingora.log"))


# name → (start, scenarios it can serve: None = all)
PEERS = {
    "wharf": (start_wharf, None),
    "nginx": (start_nginx, None),
    "haproxy": (start_haproxy, None),
    "pingora": (start_pingora, {"small", "1mib", "newconn", "rate2k", "rate5k"}),
    "envoy": (start_envoy, {"small", "1mib", "newconn", "h2", "rate2k", "rate5k", "hosts1",
                            "hosts10k"}),
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


def measure(sc, port, secs, work, pid):
    t0 = cpu_ticks(pid) if pid else 0
    if sc.tool == "wrk":
        r = run_wrk(sc, port, secs, work)
    elif sc.tool == "rate":
        r = run_fixed_rate(sc, port, secs)
    else:
        r = run_h2load(sc, port, secs, work)
    if pid:
        t1 = cpu_ticks(pid)
        r["cpu_us"] = (t1 - t0) / HZ * 1e6 / max(r["reqs"], 1)
        r["rss_kib"] = peak_rss_kib(pid)
    return r


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
    rows = []
    try:
        for sc in SCENARIOS:
            if sc.key not in wanted:
                continue
            print(f"# {sc.title}", file=sys.stderr, flush=True)
            dport = bport_h2 if sc.h2 else bport
            if not sc.hosts and not sc.chain:
                r = measure(sc, dport, a.secs, work, None)
                rows.append(dict(r, scenario=sc.key, peer="direct"))
            for name in peers:
                start, only = PEERS[name]
                if only is not None and sc.key not in only:
                    continue
                port = free_port()
                p = start(sc, port, ctx)
                try:
                    if sc.h2:
                        wait_h2c(port, sc.host(), proc=p.p)
                    else:
                        wait_http(port, sc.host(), sc.path if sc.chain else "/", proc=p.p)
                    r = measure(sc, port, a.secs, work, p.pid)
                    rows.append(dict(r, scenario=sc.key, peer=name))
                except Exception as e:  # a peer that fails is reported, the run goes on
                    print(f"# {name} / {sc.key}: {e}", file=sys.stderr, flush=True)
                finally:
                    p.stop()
    finally:
        backend.stop()
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    print_table(rows, a.secs)


def print_table(rows, secs):
    titles = {s.key: s.title for s in SCENARIOS}
    print(f"proxy pinned to core {PROXY_CORE}; load generator + nginx backend on core "
          f"{LOAD_CORE}; {secs}s per row; ratios are peer / wharf (req/s, CPU);")
    print("+p99 = the row's p99 minus direct's p99 in the same scenario (fixed-rate rows)")
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


if __name__ == "__main__":
    main()
