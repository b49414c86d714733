//! Black-box: SIGTERM stops accepting and lets an in-flight (slow, streamed) response finish.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = echo_backend("one").await;
    let dyn_path = write_atomic(
        tmp.path(),
        "dynamic.yml",
        &format!("http:\n  routers:\n    a:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n"),
    );
    let stat = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n    transport:\n      lifeCycle:\n        graceTimeOut: 10s\nproviders:\n  file:\n    filename: \"{}\"\n",
        dyn_path.display()
    );
    let cfg = write_atomic(tmp.path(), "wharf.yml", &stat);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8 path")]);
    let web = w.address("web");
    wait_body(web, "x", "/", "backend=one").await;

    let slow = tokio::spawn(get(web, "x", "/slow"));
    // Wait until the slow request is in flight (the backend streams for ~1 s).
    poll("slow request reached the backend", || async {
        (SLOW_STARTED.load(std::sync::atomic::Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    w.sigterm();
    let r = slow.await.expect("join").expect("slow response completes");
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("chunk9;"),
        "the whole streamed body arrived: {}",
        r.body
    );
    assert_eq!(w.wait_exit(), Some(0), "{}", w.log());
    assert!(
        tokio::net::TcpStream::connect(web).await.is_err(),
        "no longer accepting"
    );
}
