//! Black-box: configuration swaps under load drop no request, and a slow streamed response
//! survives them.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_under_load_drop_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dynamic = tmp.path().join("dynamic");
    std::fs::create_dir(&dynamic).expect("mkdir");
    let backend = echo_backend("one").await;
    let file = |n: usize| {
        format!("http:\n  routers:\n    main:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n    extra{n}:\n      rule: \"Host(`e{n}.test`)\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n")
    };
    write_atomic(&dynamic, "routes.yml", &file(0));
    let stat = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  providersThrottleDuration: 10ms\n  file:\n    directory: \"{}\"\n",
        dynamic.display()
    );
    let cfg = write_atomic(tmp.path(), "wharf.yml", &stat);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8 path")]);
    let web = w.address("web");
    wait_body(web, "x", "/", "backend=one").await;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, ok) = (stop.clone(), ok.clone());
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match get(web, "x", "/load").await {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => failures.push(format!("{other:?}")),
                }
            }
            failures
        }));
    }
    let slow = tokio::spawn(get(web, "x", "/slow"));
    for n in 1..=30 {
        write_atomic(&dynamic, "routes.yml", &file(n));
        wait_body(web, &format!("e{n}.test"), "/", "backend=one").await;
    }
    stop.store(true, Ordering::Relaxed);
    for wk in workers {
        let failures = wk.await.expect("join");
        assert!(
            failures.is_empty(),
            "dropped requests during swaps: {failures:?}"
        );
    }
    assert!(ok.load(Ordering::Relaxed) > 0);
    let r = slow.await.expect("join").expect("slow response");
    assert!(r.body.contains("chunk9;"), "{}", r.body);
    drop(w);
}
