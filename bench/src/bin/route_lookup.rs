//! Route lookup with 10,000 host routes, and with 10,000 path routes on one host.
//! Run: `cargo run -p wharf-bench --release --bin route_lookup`.

use wharf::compile::Registries;
use wharf_bench::{compile_view, config_with, lookup, time_per_call};

const N: usize = 10_000;

fn main() {
    let reg = Registries::default();
    let headers = http::HeaderMap::new();

    let hosts = compile_view(
        config_with(N, |i| format!("Host(`h{i}.example.com`)")),
        &reg,
    );
    let names: Vec<String> = (0..N)
        .map(|i| format!("h{}.example.com", (i * 7919) % N))
        .collect();
    let (t, sink) = time_per_call(1_000_000, |i| {
        lookup(&hosts, &headers, &names[i as usize % N], "/")
    });
    println!("host routes: {N}, lookup (hit, varied hosts): {t:?} per request (sink {sink})");
    let (t, sink) = time_per_call(1_000_000, |_| {
        lookup(&hosts, &headers, "unknown.example.com", "/")
    });
    println!("host routes: {N}, lookup (miss): {t:?} per request (sink {sink})");

    let paths = compile_view(
        config_with(N, |i| {
            format!("Host(`one.example.com`) && PathPrefix(`/p{i}/`)")
        }),
        &reg,
    );
    // Longest rules sort first, ties by name: r1000 (/p1000/) is first, r9 (/p9/) is last.
    let first = "/p1000/x".to_string();
    let last = "/p9/x".to_string();
    for (label, path) in [("near front", &first), ("near end", &last)] {
        let (t, sink) = time_per_call(20_000, |_| {
            lookup(&paths, &headers, "one.example.com", path)
        });
        println!("path routes on one host: {N}, lookup ({label}): {t:?} per request (sink {sink})");
    }
    let (t, sink) = time_per_call(20_000, |_| {
        lookup(&paths, &headers, "one.example.com", "/none")
    });
    println!(
        "path routes on one host: {N}, lookup (miss, scans all): {t:?} per request (sink {sink})"
    );
}
