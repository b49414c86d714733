#!/usr/bin/env bash
# API and dashboard figures: memory of wharf serving the API with N routers (default 10,000),
# the time of `/api/http/routers` paginated (Traefik's default page, 100) and full, the
# dashboard's page weight (bytes of all its assets) and its time to first render in headless
# chromium (Navigation and Paint Timing, read over WebDriver). Prints figures only.
#   bench/api.sh [routers]
# Environment: WHARF_BIN (default: the `perf` profile build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_init perf

python3 - "$n" "$work/many.yml" "$bport" <<'PY'
import sys
n, path, port = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(path, "w") as f:
    f.write("http:\n  routers:\n")
    for i in range(n):
        f.write(f"    r{i}:\n      rule: \"Host(`r{i}.example.com`) && PathPrefix(`/p{i % 7}`)\"\n"
                f"      service: s{i % 100}\n      middlewares: [strip]\n")
    f.write("  middlewares:\n    strip:\n      stripPrefix:\n        prefixes: [\"/p\"]\n  services:\n")
    for i in range(100):
        f.write(f"    s{i}:\n      loadBalancer:\n        servers:\n          - url: \"http://127.0.0.1:{port}\"\n")
PY

start_wharf() { # dynamic-file -> sets wpid, aport
  aport=$(free_port)
  taskset -c 0 "$bin" --entryPoints.web.address="127.0.0.1:$(free_port)" --entryPoints.traefik.address="127.0.0.1:$aport" \
    --api.insecure=true --providers.file.filename="$1" --log.level=ERROR >/dev/null 2>&1 &
  wpid=$!
  pids+=($wpid)
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$aport/api/overview" 2>/dev/null | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["http"]["routers"]["total"] >= int(sys.argv[1]) else 1)' "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "wharf never loaded $2 routers" >&2; return 1
}
rss() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
timeit() { # url repeats -> median ms and bytes
  python3 - "$1" "$2" <<'PY'
import sys, time, urllib.request, statistics
url, k = sys.argv[1], int(sys.argv[2])
ts, size = [], 0
for _ in range(k):
    t = time.perf_counter(); body = urllib.request.urlopen(url).read(); ts.append((time.perf_counter() - t) * 1000); size = len(body)
print(f"{statistics.median(ts):.2f} ms median of {k} (min {min(ts):.2f}), {size} bytes")
PY
}

echo "API with $n routers (100 services, 1 middleware); wharf on core 0"
start_wharf "$work/many.yml" "$n"
echo "RSS after load:                    $(rss "$wpid") MiB (peak $(hwm "$wpid") MiB)"
echo "/api/http/routers (page of 100):   $(timeit "http://127.0.0.1:$aport/api/http/routers" 20)"
echo "/api/http/routers?search=r9999:    $(timeit "http://127.0.0.1:$aport/api/http/routers?search=r9999" 20)"
echo "/api/http/routers (all $n):     $(timeit "http://127.0.0.1:$aport/api/http/routers?per_page=$n" 5)"
echo "/api/overview:                     $(timeit "http://127.0.0.1:$aport/api/overview" 20)"
echo "RSS after the API calls:           $(rss "$wpid") MiB (peak $(hwm "$wpid") MiB)"
big_port=$aport

# The dashboard: bytes of every asset, then first render in headless chromium.
weight=0
for a in /dashboard/ /dashboard/app.js /dashboard/app.css; do
  b=$(curl -fsS "http://127.0.0.1:$big_port$a" | wc -c)
  gz=$(curl -fsS "http://127.0.0.1:$big_port$a" | gzip -9 | wc -c)
  echo "asset $a: $b bytes ($gz gzipped)"
  weight=$((weight + b))
done
echo "dashboard page weight: $weight bytes (all assets, uncompressed)"

if command -v chromedriver >/dev/null && command -v chromium >/dev/null; then
  small=$work/small.yml
  head -c 0 /dev/null > "$small"
  python3 - "$small" "$bport" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("http:\n  routers:\n")
    for i in range(20):
        f.write(f"    r{i}:\n      rule: \"Host(`r{i}.example.com`)\"\n      service: s\n")
    f.write(f"  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://127.0.0.1:{sys.argv[2]}\"\n")
PY
  start_wharf "$small" 20
  small_port=$aport
  cport=$(free_port)
  chromedriver --port="$cport" >/dev/null 2>&1 &
  pids+=($!)
  python3 - "$cport" "$small_port" "$big_port" "$n" <<'PY'
import json, sys, time, urllib.request
cport, small, big, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def wd(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{cport}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))["value"]
for _ in range(100):
    try: wd("GET", "/status"); break
    except Exception: time.sleep(0.1)
caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=412,915"]}}}}
sid = wd("POST", "/session", caps)["sessionId"]
js = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
const res = performance.getEntriesByType('resource');
return {fcp: paint['first-contentful-paint'], dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
  bytes: nav.transferSize + res.filter(r => !r.name.includes('/api/')).reduce((a, r) => a + r.transferSize, 0),
  rows: document.querySelectorAll('#main tr, #main .card').length};
"""
for label, port, route, want in [("20 routers, overview", small, "", 1), ("20 routers, routers page", small, "#/routers", 20),
                                  (f"{n} routers, overview", big, "", 1), (f"{n} routers, routers page", big, "#/routers", 100)]:
    runs = []
    for i in range(5):
        wd("POST", f"/session/{sid}/url", {"url": "about:blank"})
        t0 = time.perf_counter()
        wd("POST", f"/session/{sid}/url", {"url": f"http://127.0.0.1:{port}/dashboard/{route}"})
        # Time until the view shows data (the first render with content).
        while True:
            r = wd("POST", f"/session/{sid}/execute/sync", {"script": js, "args": []})
            if r["rows"] >= want: break
            if time.perf_counter() - t0 > 30: break
            time.sleep(0.01)
        shown = (time.perf_counter() - t0) * 1000
        runs.append((r["fcp"] or 0, shown, r["bytes"]))
    runs.sort(key=lambda x: x[1])
    fcp, shown, b = runs[len(runs) // 2]
    print(f"dashboard {label}: first contentful paint {fcp:.0f} ms, data shown {shown:.0f} ms (median of 5, headless chromium, phone-sized window), {b} bytes transferred (assets)")
wd("DELETE", f"/session/{sid}")
PY
else
  echo "chromium/chromedriver not installed: no render timing"
fi
