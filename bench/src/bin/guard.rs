//! The workloads of the regression guard (bench/guard.sh): each runs one hot-path operation
//! `iterations` times after its setup, so running it twice under callgrind with two iteration
//! counts gives the instructions of one operation, setup excluded, the same on every machine.
//!   guard hosts|paths|chain ITERATIONS
//! - `hosts`: route lookup among 10,000 `Host` routes (varied hosts);
//! - `paths`: route lookup among 10,000 `PathPrefix` routes on one host (varied paths);
//! - `chain`: the request and response phases of a 5-middleware chain (ipAllowList, two
//!   headers, stripPrefix, addPrefix) on a fresh request head.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use wharf::compile::Registries;
use wharf_bench::{compile_view, config_with, lookup};
use wharf_middlewares::{ConnInfo, FlowState};

const N: usize = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(workload), Some(iters)) = (args.first(), args.get(1).and_then(|n| n.parse().ok()))
    else {
        eprintln!("usage: guard hosts|paths|chain ITERATIONS");
        std::process::exit(2);
    };
    let iters: usize = iters;
    let reg = Registries::default();
    let headers = http::HeaderMap::new();
    let mut sink = 0usize;
    match workload.as_str() {
        "hosts" => {
            let snap = compile_view(
                config_with(N, |i| format!("Host(`h{i}.example.com`)")),
                &reg,
            );
            let names: Vec<String> = (0..N)
                .map(|i| format!("h{}.example.com", (i * 7919) % N))
                .collect();
            sink += measured(iters, |i| {
                lookup(&snap, &headers, black_box(&names[i % N]), "/")
            });
        }
        "paths" => {
            let snap = compile_view(
                config_with(N, |i| {
                    format!("Host(`one.example.com`) && PathPrefix(`/p{i}/`)")
                }),
                &reg,
            );
            let paths: Vec<String> = (0..N).map(|i| format!("/p{}/x", (i * 7919) % N)).collect();
            sink += measured(iters, |i| {
                lookup(&snap, &headers, "one.example.com", black_box(&paths[i % N]))
            });
        }
        "chain" => {
            let snap = compile_view(wharf_bench::chain_config(), &reg);
            let req = wharf::rule::RequestInfo {
                method: &http::Method::GET,
                host: "bench.local",
                path: "/api/hello",
                query: None,
                headers: &headers,
                client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            let Some(route) = snap.entry_points.get("web").and_then(|t| t.find(&req)) else {
                eprintln!("the chain route does not match");
                std::process::exit(1);
            };
            let chain = &route.filters;
            assert_eq!(chain.len(), 5, "five filters");
            let conn = ConnInfo {
                remote_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                tls: false,
            };
            sink += measured(iters, |_| {
                let mut sink = 0;
                let (mut parts, ()) = http::Request::get("/api/hello")
                    .header(http::header::HOST, "bench.local")
                    .body(())
                    .expect("request")
                    .into_parts();
                let mut flow = FlowState::default();
                let out = wharf_middlewares::run_request(chain, 0, &mut parts, &conn, &mut flow);
                sink += matches!(out, wharf_middlewares::ChainOutcome::Forward) as usize;
                let (mut rp, ()) = http::Response::new(()).into_parts();
                wharf_middlewares::run_response(chain, chain.len(), &mut rp, &conn, &flow);
                sink += rp.headers.len() + parts.uri.path().len();
                sink
            });
        }
        other => {
            eprintln!("unknown workload {other}");
            std::process::exit(2);
        }
    }
    println!("{workload} {iters} {sink}");
}

/// The measured part: guard.sh counts the instructions inside this function only (callgrind
/// `--toggle-collect`). Counting the whole program let the setup leak in: its hash seeds and
/// the entropy gathered for the generated default certificate vary from run to run by more
/// than a million instructions, which moved the per-operation figure by up to 90%.
#[inline(never)]
fn measured(iters: usize, mut op: impl FnMut(usize) -> usize) -> usize {
    let mut sink = 0;
    for i in 0..iters {
        sink += op(i);
    }
    sink
}
