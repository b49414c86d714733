//! Black-box: router priority order, including a host-less rule with a higher priority winning
//! over a Host rule, and ties broken by name.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_order_is_traefiks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (one, two, three) = (
        echo_backend("one").await,
        echo_backend("two").await,
        echo_backend("three").await,
    );
    let dynamic = format!(
        r#"
http:
  routers:
    host:
      rule: "Host(`a.test`)"
      service: one
    hostpath:
      rule: "Host(`a.test`) && PathPrefix(`/api`)"
      service: two
    catchall:
      rule: "PathPrefix(`/admin`)"
      priority: 1000
      service: three
    tie-b:
      rule: "Host(`t.test`)"
      priority: 7
      service: two
    tie-a:
      rule: "Host(`t.test`)"
      priority: 7
      service: one
  services:
    one:
      loadBalancer:
        servers: [{{url: "http://{one}"}}]
    two:
      loadBalancer:
        servers: [{{url: "http://{two}"}}]
    three:
      loadBalancer:
        servers: [{{url: "http://{three}"}}]
"#
    );
    let dyn_path = write_atomic(tmp.path(), "dynamic.yml", &dynamic);
    let stat = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  file:\n    filename: \"{}\"\n",
        dyn_path.display()
    );
    let cfg = write_atomic(tmp.path(), "wharf.yml", &stat);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8 path")]);
    let web = w.address("web");

    wait_body(web, "a.test", "/", "backend=one").await;
    // The longer rule (default priority = length) wins.
    assert!(get(web, "a.test", "/api/x")
        .await
        .expect("request")
        .body
        .contains("backend=two"));
    // The host-less rule with priority 1000 beats both Host rules.
    assert!(get(web, "a.test", "/admin")
        .await
        .expect("request")
        .body
        .contains("backend=three"));
    assert!(get(web, "other.test", "/admin")
        .await
        .expect("request")
        .body
        .contains("backend=three"));
    // Host matching ignores case and the port.
    assert!(get(web, "A.TEST:8080", "/")
        .await
        .expect("request")
        .body
        .contains("backend=one"));
    // Equal priorities: the name decides (tie-a@file before tie-b@file).
    assert!(get(web, "t.test", "/")
        .await
        .expect("request")
        .body
        .contains("backend=one"));
}
