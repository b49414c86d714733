//! Where the memory of 10,000 routers goes, stage by stage of the real pipeline: the file
//! provider's YAML parse, the aggregate merge, compile (route tables, services, report) and the
//! API's change event. A counting allocator tracks live heap bytes, so each figure is exact and
//! independent of the allocator's page retention (RSS is what bench/idle.sh reports).
//!   router_memory [ROUTERS]
#![allow(unsafe_code)] // the counting GlobalAlloc below; it only forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use wharf::compile::Registries;
use wharf::snapshot::Snapshot;
use wharf_providers::file::{parse_str, Format};

static LIVE: AtomicI64 = AtomicI64::new(0);

struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; the counter is a plain atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut yaml = String::from("http:\n  routers:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "    r{i}:\n      rule: Host(`h{i}.example.com`)\n      service: s\n"
        ));
    }
    yaml.push_str("  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:9\n");
    let registries = Registries::default();
    let mut rows: Vec<(&str, i64)> = Vec::new();

    let base = live();
    let mut view = parse_str(&yaml, Format::Yaml, "bench.yml").expect("the generated YAML parses");
    view.compact(); // as `ProviderSender::publish` does before it keeps the view
    let view = Arc::new(view);
    let after_parse = live();
    rows.push(("provider view (parsed file)", after_parse - base));

    let merged = Arc::new(wharf::aggregate::merge(
        &[("file".to_string(), view.clone())],
        &["web".to_string()],
    ));
    let after_merge = live();
    rows.push(("merged configuration", after_merge - after_parse));

    let settings = wharf::compile::CompileSettings {
        entry_points: vec!["web".into()],
        ..Default::default()
    };
    let files = std::collections::BTreeMap::new();
    let snap = wharf::compile::compile(wharf::compile::CompileInput {
        config: merged.clone(),
        settings: &settings,
        files: &files,
        now: std::time::SystemTime::now(),
        registries: &registries,
    });
    let after_compile = live();
    rows.push((
        "compiled snapshot (tables, services, report)",
        after_compile - after_merge,
    ));

    let empty = Snapshot::default();
    // What the API keeps: the event of the first generation, capped as `record` caps it.
    let changes =
        wharf::api::Event::new(1, String::new(), wharf::api::diff_snapshots(&empty, &snap));
    let after_event = live();
    rows.push((
        "API change event (all routers added)",
        after_event - after_compile,
    ));

    let total = after_event - base;

    // The snapshot's parts, by what freeing each one returns.
    let mut snap = snap;
    let mut parts: Vec<(&str, i64)> = Vec::new();
    let before = live();
    drop(std::mem::take(&mut snap.report));
    parts.push((
        "  of which the report (API status per item)",
        before - live(),
    ));
    let before = live();
    drop(std::mem::take(&mut snap.entry_points));
    drop(std::mem::take(&mut snap.tls_entry_points));
    parts.push(("  of which the route tables", before - live()));
    let before = live();
    drop(std::mem::take(&mut snap.services));
    parts.push(("  of which the services", before - live()));
    let before = live();
    snap.config = Arc::default();
    snap.tls = Arc::default();
    parts.push(("  of which its config copy and TLS state", before - live()));
    let before = live();
    drop(snap);
    parts.push(("  the rest", before - live()));
    println!("{n} host routers, live heap bytes by stage (counting allocator)");
    for (what, bytes) in &rows {
        println!(
            "{what:<46} {:>9.2} MiB {:>8.0} B/router",
            *bytes as f64 / 1048576.0,
            *bytes as f64 / n as f64
        );
    }
    for (what, bytes) in &parts {
        println!(
            "{what:<46} {:>9.2} MiB {:>8.0} B/router",
            *bytes as f64 / 1048576.0,
            *bytes as f64 / n as f64
        );
    }
    println!(
        "{:<46} {:>9.2} MiB {:>8.0} B/router",
        "total",
        total as f64 / 1048576.0,
        total as f64 / n as f64
    );
    drop((changes, merged, view));
}
