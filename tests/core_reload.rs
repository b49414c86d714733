//! Black-box: the file provider's changes serve within the deadline; a broken router is disabled
//! while the others keep serving; a file with a syntax error keeps its last good config.

mod common;

use common::*;

fn static_config(dir: &std::path::Path, dynamic: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    directory: \"{}\"\n    watch: true\nlog:\n  level: INFO\n",
        dynamic.display()
    );
    write_atomic(dir, "wharf.yml", &text)
}

fn routers(backend: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "http:\n  routers:\n    a:\n      rule: \"Host(`a.test`)\"\n      service: s\n{extra}  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_change_serves_and_broken_router_fails_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dynamic = tmp.path().join("dynamic");
    std::fs::create_dir(&dynamic).expect("mkdir");
    let backend = echo_backend("one").await;
    write_atomic(&dynamic, "routes.yml", &routers(backend, ""));
    let cfg = static_config(tmp.path(), &dynamic);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8 path")]);
    let web = w.address("web");

    let r = wait_body(web, "a.test", "/hello", "backend=one path=/hello").await;
    assert_eq!(r.status, 200);
    let r = get(web, "nothing.test", "/").await.expect("request");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "404 page not found\n");

    // Add a router: served after the change.
    let extra = "    b:\n      rule: \"Host(`b.test`)\"\n      service: s\n";
    write_atomic(&dynamic, "routes.yml", &routers(backend, extra));
    wait_body(web, "b.test", "/new", "path=/new").await;

    // A broken rule and a missing service disable those routers only.
    let extra = "    b:\n      rule: \"Host(`b.test`\"\n      service: s\n    c:\n      rule: \"Host(`c.test`)\"\n      service: nope\n    d:\n      rule: \"Host(`d.test`)\"\n      service: s\n";
    write_atomic(&dynamic, "routes.yml", &routers(backend, extra));
    wait_body(web, "d.test", "/", "backend=one").await;
    assert_eq!(get(web, "b.test", "/").await.expect("request").status, 404);
    assert_eq!(get(web, "c.test", "/").await.expect("request").status, 404);
    assert_eq!(get(web, "a.test", "/").await.expect("request").status, 200);

    // A syntax error keeps the file's last good config.
    write_atomic(&dynamic, "routes.yml", "http:\n  routers: [unclosed\n");
    // A second, valid file still applies.
    write_atomic(
        &dynamic,
        "other.yml",
        "http:\n  routers:\n    e:\n      rule: \"Host(`e.test`)\"\n      service: s@file\n",
    );
    wait_body(web, "e.test", "/", "backend=one").await;
    assert_eq!(get(web, "d.test", "/").await.expect("request").status, 200);
    let log = w.log();
    assert!(
        log.contains("b@file"),
        "the broken router is reported in the log:\n{log}"
    );
}
