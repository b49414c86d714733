//! Shared helpers of the benchmark programs: config builders, a compile wrapper, timing and
//! resident-memory readings. Figures are printed, never asserted (speed is not a test).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wharf::compile::{compile, CompileInput, CompileSettings, Registries};
use wharf::rule::RequestInfo;
use wharf::snapshot::Snapshot;
use wharf_providers::{DynamicConfig, LoadBalancer, Router, Server, Service};

/// A file-provider-like view with `n` routers produced by `rule(i)`, all on one service.
pub fn config_with(n: usize, rule: impl Fn(usize) -> String) -> DynamicConfig {
    let mut c = DynamicConfig::default();
    c.http.services.insert(
        "s".into(),
        Service {
            load_balancer: Some(LoadBalancer {
                servers: vec![Server {
                    url: "http://127.0.0.1:9".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    for i in 0..n {
        c.http.routers.insert(
            format!("r{i}"),
            Router {
                rule: rule(i),
                service: "s".into(),
                ..Default::default()
            },
        );
    }
    c
}

/// Aggregates (as provider `file`) and compiles, as the runtime does.
pub fn compile_view(view: DynamicConfig, registries: &Registries) -> Snapshot {
    let merged = wharf::aggregate::merge(
        &[("file".to_string(), Arc::new(view))],
        &["web".to_string()],
    );
    let settings = CompileSettings {
        entry_points: vec!["web".into()],
        ..Default::default()
    };
    let files = BTreeMap::new();
    compile(CompileInput {
        config: Arc::new(merged),
        settings: &settings,
        files: &files,
        now: SystemTime::now(),
        registries,
    })
}

/// Looks up `host`/`path` on the `web` table and returns the matched router's name length
/// (kept so the optimizer cannot drop the lookup).
pub fn lookup(snap: &Snapshot, headers: &http::HeaderMap, host: &str, path: &str) -> usize {
    let req = RequestInfo {
        method: &http::Method::GET,
        host,
        path,
        query: None,
        headers,
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    snap.entry_points
        .get("web")
        .and_then(|t| t.find(&req))
        .map_or(0, |r| r.name.len())
}

/// Runs `f` `iters` times and returns the mean time per call.
pub fn time_per_call(iters: u32, mut f: impl FnMut(u32) -> usize) -> (Duration, usize) {
    let mut sink = 0usize;
    let t = Instant::now();
    for i in 0..iters {
        sink = sink.wrapping_add(f(i));
    }
    (t.elapsed() / iters.max(1), sink)
}

/// Resident set size in KiB (Linux `/proc/self/status`), 0 elsewhere.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// One router `bench` on `Host(`bench.local`)` with the 5-middleware chain of bench/compare.py:
/// ipAllowList, headers (request), headers (response), stripPrefix `/api`, addPrefix `/v1`.
pub fn chain_config() -> DynamicConfig {
    let yaml = r#"
http:
  routers:
    bench:
      rule: "Host(`bench.local`)"
      service: s
      middlewares: [allow, reqhdr, resphdr, strip, add]
  middlewares:
    allow:
      ipAllowList:
        sourceRange: ["127.0.0.1/32"]
    reqhdr:
      headers:
        customRequestHeaders:
          X-Bench: "1"
    resphdr:
      headers:
        customResponseHeaders:
          X-Served-By: "proxy"
    strip:
      stripPrefix:
        prefixes: ["/api"]
    add:
      addPrefix:
        prefix: "/v1"
  services:
    s:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:9"
"#;
    match serde_norway::from_str(yaml) {
        Ok(c) => c,
        Err(e) => panic!("the chain fixture does not parse: {e}"),
    }
}
