//! Black-box: `wharf check` (every problem with file, key path and line; exit 1), `wharf version`,
//! `wharf healthcheck --ping` against a running instance.

mod common;

use std::process::Command;

use common::*;

#[test]
fn version_prints_the_version() {
    let out = Command::new(bin())
        .arg("version")
        .output()
        .expect("run wharf version");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn check_reports_every_problem_with_location() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dynamic = tmp.path().join("dynamic.yml");
    std::fs::write(
        &dynamic,
        "http:\n  routers:\n    api:\n      rule: \"Host(`a.test`) && Path(`/x`\"\n      service: s\n    lost:\n      rule: \"Path(`/l`)\"\n      service: missing\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:1\n",
    )
    .expect("write dynamic");
    let stat = tmp.path().join("wharf.yml");
    std::fs::write(
        &stat,
        format!(
            "entryPoints:\n  web:\n    address: \":8081\"\nproviders:\n  file:\n    filename: \"{}\"\n",
            dynamic.display()
        ),
    )
    .expect("write static");
    let out = Command::new(bin())
        .args(["check", "--configFile"])
        .arg(&stat)
        .output()
        .expect("run check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("api@file"), "{text}");
    assert!(text.contains("http.routers.api.rule"), "{text}");
    assert!(text.contains("column"), "{text}");
    assert!(text.contains("dynamic.yml"), "{text}");
    assert!(
        text.contains("service `missing@file` does not exist"),
        "{text}"
    );

    // A static-config typo: named with a suggestion.
    std::fs::write(&stat, "entryPoints:\n  web:\n    adress: \":8081\"\n").expect("write static");
    let out = Command::new(bin())
        .args(["check", "--configFile"])
        .arg(&stat)
        .output()
        .expect("run check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("adress"), "{text}");
    assert!(text.contains("address"), "{text}");

    // A clean config exits 0.
    std::fs::write(
        &dynamic,
        "http:\n  routers:\n    api:\n      rule: \"Host(`a.test`)\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:1\n",
    )
    .expect("write dynamic");
    std::fs::write(
        &stat,
        format!("entryPoints:\n  web:\n    address: \":8081\"\nproviders:\n  file:\n    filename: \"{}\"\n", dynamic.display()),
    )
    .expect("write static");
    let out = Command::new(bin())
        .args(["check", "--configFile"])
        .arg(&stat)
        .output()
        .expect("run check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn check_reports_tls_problems_and_non_mapping_sections() {
    // Found trying wharf as a Traefik user: `wharf check` said "configuration OK" for these
    // files, while the running wharf logged the TLS errors and dropped `routers` silently.
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |dynamic: &str| {
        let file = tmp.path().join("dynamic.yml");
        std::fs::write(&file, dynamic).expect("write dynamic");
        let out = Command::new(bin())
            .args(["check", "--entryPoints.web.address=127.0.0.1:0"])
            .arg(format!("--providers.file.filename={}", file.display()))
            .output()
            .expect("run check");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, text) = run("tls:\n  certificates:\n    - certFile: /nonexistent/wharf.pem\n      keyFile: /nonexistent/wharf.key\n  options:\n    default:\n      minVersion: VersionTLS14\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("/nonexistent/wharf.pem"), "{text}");
    assert!(text.contains("unknown minVersion `VersionTLS14`"), "{text}");
    let (code, text) = run("http:\n  routers: [a, b]\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("dynamic.yml:2"), "{text}");
    assert!(text.contains("http.routers"), "{text}");
}

#[test]
fn healthcheck_pings_the_running_instance() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let stat = tmp.path().join("wharf.yml");
    std::fs::write(
        &stat,
        format!("entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n  traefik:\n    address: \"127.0.0.1:{port}\"\nping: {{}}\n"),
    )
    .expect("write static");
    let cfg = stat.to_str().expect("utf8 path");
    // Nothing listens yet: the check fails.
    let out = Command::new(bin())
        .args(["healthcheck", "--ping", "--configFile", cfg])
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));

    let mut w = Wharf::start(&["--configFile", cfg]);
    let ping = w.address("traefik");
    assert_eq!(ping.port(), port);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let r = rt
        .block_on(get(ping, "localhost", "/ping"))
        .expect("GET /ping");
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    let out = Command::new(bin())
        .args(["healthcheck", "--ping", "--configFile", cfg])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn json_log_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let stat = tmp.path().join("wharf.yml");
    std::fs::write(
        &stat,
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nlog:\n  level: INFO\n  format: json\n",
    )
    .expect("write static");
    let w = Wharf::start(&["--configFile", stat.to_str().expect("utf8 path")]);
    let start = std::time::Instant::now();
    let line = loop {
        let found = w
            .lines
            .lock()
            .expect("log lock")
            .iter()
            .find(|l| l.contains("entry point listening"))
            .cloned();
        if let Some(l) = found {
            break l;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no listening line:\n{}",
            w.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(v["fields"]["entry_point"], "web", "{line}");
    assert_eq!(v["level"], "INFO", "{line}");
}
