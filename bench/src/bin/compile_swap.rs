//! Compile + swap time and resident memory for 10,000 routers (host routes and path routes).
//! Run: `cargo run -p wharf-bench --release --bin compile_swap`.

use std::time::Instant;

use wharf::compile::Registries;
use wharf::snapshot::SnapshotStore;
use wharf_bench::{compile_view, config_with, rss_kib};

const N: usize = 10_000;

fn main() {
    let reg = Registries::default();
    let store = SnapshotStore::new();
    for (label, rule) in [
        (
            "host routes",
            Box::new(|i: usize| format!("Host(`h{i}.example.com`)"))
                as Box<dyn Fn(usize) -> String>,
        ),
        (
            "path routes on one host",
            Box::new(|i: usize| format!("Host(`one.example.com`) && PathPrefix(`/p{i}/`)")),
        ),
        (
            "host-less path routes",
            Box::new(|i: usize| format!("PathPrefix(`/p{i}/`)")),
        ),
    ] {
        let view = config_with(N, &rule);
        let rss0 = rss_kib();
        let t = Instant::now();
        let snap = compile_view(view.clone(), &reg);
        let compiled = t.elapsed();
        let t = Instant::now();
        let g = store.store(snap);
        let swapped = t.elapsed();
        let rss1 = rss_kib();
        // A second compile with the previous snapshot still alive (what a reload costs).
        let t = Instant::now();
        let g2 = store.store(compile_view(view, &reg));
        let recompiled = t.elapsed();
        println!(
            "{N} routers ({label}): compile {compiled:?}, swap incl. freeing the previous snapshot {swapped:?} (gen {g}), recompile+swap {recompiled:?} (gen {g2}), RSS after first {} MiB (+{} MiB)",
            rss1 / 1024,
            rss1.saturating_sub(rss0) / 1024
        );
    }
}
