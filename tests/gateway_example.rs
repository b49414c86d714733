//! `examples/gateway/`: `wharf check` accepts its files as they are, and the same dynamic file
//! serves end to end (backend addresses and the listening port rewritten to this test's
//! loopback sockets): 401 without or with a bad token, 200 with `X-User-Id`, Alice limited
//! at 100 a minute while Bob goes on, quota headers on /orders, the access log naming the user.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6IndoYXJmLWRlbW8iLCJhdWQiOiJhcGkiLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6NDEwMjQ0NDgwMH0.AmD3iOP1tHa54ukdUMi7CfmwDFoDo0dQLdzhD-qnxmI";
const BOB: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJpc3MiOiJ3aGFyZi1kZW1vIiwiYXVkIjoiYXBpIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjQxMDI0NDQ4MDB9.MntMKrdDOJcDjS5qZcq-DOZ7LTkkresa7vxqoPyJcW0";

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/gateway")
}

#[test]
fn example_files_pass_wharf_check() {
    let out = Command::new(bin())
        .current_dir(example())
        .args(["check", "--configFile", "wharf.yml"])
        .output()
        .expect("run wharf check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("error"), "{text}");
}

async fn call(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Resp {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        body: body.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_serves_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut dynamic =
        std::fs::read_to_string(example().join("dynamic.yml")).expect("example dynamic.yml");
    for (port, name) in [(9001, "users"), (9002, "products"), (9003, "orders")] {
        let addr = echo_backend(name).await;
        dynamic = dynamic.replace(&format!("127.0.0.1:{port}"), &addr.to_string());
    }
    write_atomic(tmp.path(), "dynamic.yml", &dynamic);
    let stat = std::fs::read_to_string(example().join("wharf.yml"))
        .expect("example wharf.yml")
        .replace("\":8000\"", "\"127.0.0.1:0\"")
        .replace(
            "filename: dynamic.yml",
            &format!("filename: \"{}\"", tmp.path().join("dynamic.yml").display()),
        )
        .replace(
            "stateFile: quotas.json",
            &format!(
                "stateFile: \"{}\"",
                tmp.path().join("quotas.json").display()
            ),
        );
    let cfg = write_atomic(tmp.path(), "wharf.yml", &stat);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8")]);
    let web = w.address("web");

    poll("the example serves", || async {
        let r = call(web, "/users", Some(BOB)).await;
        (r.status == 200).then_some(())
    })
    .await;
    let r = call(web, "/users", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(call(web, "/users", Some("not.a.token")).await.status, 401);
    let r = call(web, "/products", Some(ALICE)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("backend=products"), "{}", r.body);
    assert_eq!(r.header("x-ratelimit-limit"), Some("100"));

    // Alice: 100 in the minute (one spent above), then 429; Bob goes on.
    let mut ok = 1;
    let mut limited = None;
    for _ in 0..105 {
        let r = call(web, "/users", Some(ALICE)).await;
        match r.status {
            200 => ok += 1,
            429 => {
                limited = Some(r);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let limited = limited.expect("alice limited");
    // The bucket refills at 100/min while this loop runs, so a few more may pass.
    assert!((100..=105).contains(&ok), "{ok}");
    assert!(limited.header("retry-after").is_some());
    let r = call(web, "/users", Some(BOB)).await;
    assert_eq!(r.status, 200, "bob has his own budget");

    // Quota headers on /orders (1000 a UTC day).
    let r = call(web, "/orders", Some(BOB)).await;
    assert_eq!(r.status, 200);
    let limits: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-ratelimit-limit"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(limits.len(), 1, "one set of headers: {limits:?}");

    // The access log: JSON lines naming the user.
    poll("access log lines", || async {
        let log = w.log();
        (log.contains("\"ClientUsername\":\"alice\"") && log.contains("\"ClientUsername\":\"bob\""))
            .then_some(())
    })
    .await;
    w.sigterm();
    assert_eq!(w.wait_exit(), Some(0));
}
