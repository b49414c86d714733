//! Black-box: files the dynamic configuration refers to (here a serversTransport's rootCAs) are
//! read before compile and watched: a missing CA file disables the service and its router, and
//! creating the file brings them back without touching the dynamic configuration.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_file_change_recompiles() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = echo_backend("one").await;
    let ca = tmp.path().join("ca.pem");
    let dynamic = format!(
        "http:\n  routers:\n    a:\n      rule: \"Host(`a.test`)\"\n      service: s\n    b:\n      rule: \"Host(`b.test`)\"\n      service: plain\n  services:\n    s:\n      loadBalancer:\n        serversTransport: t\n        servers:\n          - url: \"http://{backend}\"\n    plain:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n  serversTransports:\n    t:\n      rootCAs: [\"{}\"]\n",
        ca.display()
    );
    let dyn_path = write_atomic(tmp.path(), "dynamic.yml", &dynamic);
    let stat = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  file:\n    filename: \"{}\"\n",
        dyn_path.display()
    );
    let cfg = write_atomic(tmp.path(), "wharf.yml", &stat);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8 path")]);
    let web = w.address("web");

    // The router with a working service serves; the one whose transport lacks its CA does not.
    wait_body(web, "b.test", "/", "backend=one").await;
    assert_eq!(get(web, "a.test", "/").await.expect("request").status, 404);

    let cert =
        rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).expect("self-signed");
    std::fs::write(&ca, cert.cert.pem()).expect("write CA");
    wait_body(web, "a.test", "/x", "backend=one path=/x").await;
    drop(w);
}
