//! The Docker provider's client loop against the real engine: labelled containers started,
//! stopped, made unhealthy by the test; the engine reached through a unix-socket relay that the
//! test kills and restarts. Each test selects only its own containers with a unique label
//! (`providers.docker.constraints`), so tests and other users of the engine do not interfere.
//!
//! Needs the `wharf-whoami:dev` image (`images/build.sh`). Skips when there is no engine socket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use wharf_providers::docker::{spawn, DockerSettings};
use wharf_providers::provider::{ProviderHandle, ProviderStatus};
use wharf_providers::DynamicConfig;

const SOCK: &str = "/var/run/docker.sock";
const IMAGE: &str = "wharf-whoami:dev";
const DEADLINE: Duration = Duration::from_secs(20);

fn engine_available() -> bool {
    if !Path::new(SOCK).exists() {
        eprintln!("skipping: no docker engine socket at {SOCK}");
        return false;
    }
    let ok = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "image {IMAGE} is missing: run images/build.sh first");
    true
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "wharf-t-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Removes the container when the test ends, passed or failed.
struct Container(String);

impl Container {
    fn run(name: &str, test_id: &str, labels: &[(&str, &str)], extra: &[&str]) -> Container {
        Container::run_image(IMAGE, name, test_id, labels, extra)
    }
    fn run_image(
        image: &str,
        name: &str,
        test_id: &str,
        labels: &[(&str, &str)],
        extra: &[&str],
    ) -> Container {
        let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.into()];
        args.push("--label".into());
        args.push(format!("wharf.test={test_id}"));
        for (k, v) in labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        // Options before `--` go to `docker run`, the rest to the container's command.
        let split = extra.iter().position(|a| *a == "--").unwrap_or(extra.len());
        args.extend(extra[..split].iter().map(|s| s.to_string()));
        args.push(image.into());
        args.extend(
            extra
                .get(split + 1..)
                .unwrap_or_default()
                .iter()
                .map(|s| s.to_string()),
        );
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs);
        Container(name.to_string())
    }
    fn ip(&self) -> String {
        docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &self.0,
        ])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn settings(test_id: &str, endpoint: Option<String>) -> DockerSettings {
    DockerSettings {
        endpoint,
        constraints: format!("Label(`wharf.test`, `{test_id}`)"),
        throttle: Duration::from_millis(100),
        ..DockerSettings::default()
    }
}

/// Waits until the published config satisfies `pred`; returns that config.
async fn wait_config(
    h: &mut ProviderHandle,
    what: &str,
    pred: impl Fn(&DynamicConfig) -> bool,
) -> Arc<DynamicConfig> {
    let res = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(c) = h.config.borrow_and_update().clone() {
                if pred(&c) {
                    return c;
                }
            }
            if h.config.changed().await.is_err() {
                panic!("provider stopped while waiting for: {what}");
            }
        }
    })
    .await;
    match res {
        Ok(c) => c,
        Err(_) => panic!(
            "timed out waiting for: {what}; last config: {:?}",
            h.config.borrow().as_deref().map(|c| &c.http)
        ),
    }
}

async fn wait_status(h: &mut ProviderHandle, what: &str, pred: impl Fn(&ProviderStatus) -> bool) {
    let res = tokio::time::timeout(DEADLINE, async {
        loop {
            if pred(&h.status.borrow_and_update()) {
                return;
            }
            if h.status.changed().await.is_err() {
                panic!("provider stopped while waiting for: {what}");
            }
        }
    })
    .await;
    if res.is_err() {
        panic!(
            "timed out waiting for status: {what}; last: {:?}",
            *h.status.borrow()
        );
    }
}

fn servers(c: &DynamicConfig, service: &str) -> Vec<String> {
    c.http
        .services
        .get(service)
        .and_then(|s| s.load_balancer.as_ref())
        .map(|lb| lb.servers.iter().map(|s| s.url.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_container_start_stop_follows() {
    if !engine_available() {
        return;
    }
    let id = unique("startstop");
    let mut h = spawn(settings(&id, None));
    wait_status(&mut h, "ready", |s| *s == ProviderStatus::Ready).await;
    let rule = format!("Host(`{id}.test`)");
    let c = Container::run(
        &id,
        &id,
        &[
            (&format!("traefik.http.routers.{id}.rule"), &rule),
            (
                &format!("traefik.http.services.{id}.loadbalancer.server.port"),
                "3000",
            ),
        ],
        &["--", "--port", "3000"],
    );
    let ip = c.ip();
    let want = format!("http://{ip}:3000");
    let cfg = wait_config(&mut h, "router after start", |c| {
        servers(c, &id) == [want.clone()]
    })
    .await;
    assert_eq!(cfg.http.routers[&id].rule, rule);
    assert_eq!(cfg.http.routers[&id].service, id);

    docker(&["stop", &id]);
    wait_config(&mut h, "router gone after stop", |c| {
        !c.http.routers.contains_key(&id)
    })
    .await;

    docker(&["start", &id]);
    let ip2 = c.ip();
    wait_config(&mut h, "router back after start", |c| {
        servers(c, &id) == [format!("http://{ip2}:3000")]
    })
    .await;

    docker(&["rm", "-f", &id]);
    wait_config(&mut h, "router gone after rm", |c| {
        !c.http.routers.contains_key(&id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_service_and_pause_empties_it() {
    if !engine_available() {
        return;
    }
    let id = unique("replicas");
    let mut h = spawn(settings(&id, None));
    let labels = [
        ("com.docker.compose.service", "web"),
        ("com.docker.compose.project", id.as_str()),
    ];
    let a = Container::run(&format!("{id}-1"), &id, &labels, &[]);
    let b = Container::run(&format!("{id}-2"), &id, &labels, &[]);
    let svc = format!("web-{id}");
    let mut want = vec![
        format!("http://{}:80", a.ip()),
        format!("http://{}:80", b.ip()),
    ];
    want.sort();
    let cfg = wait_config(&mut h, "two servers", |c| {
        let mut s = servers(c, &svc);
        s.sort();
        s == want
    })
    .await;
    assert_eq!(cfg.http.routers[&svc].rule, format!("Host(`{svc}`)"));

    docker(&["pause", &a.0]);
    let only_b = format!("http://{}:80", b.ip());
    wait_config(&mut h, "paused replica leaves", |c| {
        servers(c, &svc) == [only_b.clone()]
    })
    .await;
    docker(&["unpause", &a.0]);
    wait_config(&mut h, "unpaused replica returns", |c| {
        servers(c, &svc).len() == 2
    })
    .await;
}

fn health_image() -> String {
    let tag = format!("{IMAGE}-health");
    let dockerfile = format!(
        "FROM {IMAGE}\nHEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [\"/whoami\", \"--healthcheck\", \"80\"]\n"
    );
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker build");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(dockerfile.as_bytes())
            .expect("write Dockerfile");
    }
    let out = child.wait_with_output().expect("docker build output");
    assert!(
        out.status.success(),
        "docker build of {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tag
}

async fn post(ip: &str, port: u16, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect((ip, port)).await?;
            s.write_all(
                format!("POST {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes(),
            )
            .await?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await?;
            Ok::<bool, std::io::Error>(
                buf.starts_with(b"HTTP/1.1 200") || buf.starts_with(b"HTTP/1.0 200"),
            )
        };
        if let Ok(true) = attempt.await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "POST {path} to {ip}:{port} never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_status_is_followed_and_router_stays() {
    if !engine_available() {
        return;
    }
    let id = unique("health");
    let mut h = spawn(settings(&id, None));
    // `docker run --health-cmd` needs a shell; a FROM scratch image needs the exec form, so
    // derive an image with a HEALTHCHECK (built offline from the local image).
    let image = health_image();
    let c = Container::run_image(&image, &id, &id, &[], &[]);
    let ip = c.ip();
    let url = format!("http://{ip}:80");
    wait_config(&mut h, "healthy: one server", |c| {
        servers(c, &id) == [url.clone()]
    })
    .await;

    post(&ip, 80, "/health/fail").await;
    let cfg = wait_config(&mut h, "unhealthy: router kept, no server", |c| {
        c.http.routers.contains_key(&id)
            && c.http.services.contains_key(&id)
            && servers(c, &id).is_empty()
    })
    .await;
    assert!(
        cfg.problems
            .iter()
            .any(|p| p.name == id && p.message.contains("unhealthy")),
        "{:?}",
        cfg.problems
    );

    post(&ip, 80, "/health/ok").await;
    wait_config(&mut h, "healthy again", |c| {
        servers(c, &id) == [url.clone()]
    })
    .await;
}

/// A unix-socket relay to the engine that the test can kill (closing every open connection)
/// and restart on the same path. It counts container inspections by id.
struct Relay {
    path: PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    inspects: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Relay {
    fn new(path: PathBuf) -> Relay {
        Relay {
            path,
            task: None,
            conns: Arc::default(),
            inspects: Arc::default(),
        }
    }
    fn start(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("bind relay socket");
        let conns = self.conns.clone();
        let inspects = self.inspects.clone();
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((mut down, _)) = listener.accept().await else {
                    return;
                };
                let inspects = inspects.clone();
                let t = tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(mut up) = UnixStream::connect(SOCK).await else {
                        return;
                    };
                    // Peek at the request line to count inspections, then relay bytes.
                    let mut first = vec![0u8; 4096];
                    let Ok(n) = down.read(&mut first).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&first[..n]).to_string();
                    if let Some(line) = head.lines().next() {
                        let path = line.split_whitespace().nth(1).unwrap_or_default();
                        let path = path.split('?').next().unwrap_or_default();
                        let segs: Vec<&str> = path.split('/').collect();
                        if let [.., "containers", id, "json"] = segs.as_slice() {
                            *inspects
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .entry(id.to_string())
                                .or_default() += 1;
                        }
                    }
                    if up.write_all(&first[..n]).await.is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                });
                conns.lock().unwrap_or_else(|e| e.into_inner()).push(t);
            }
        }));
    }
    fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        for c in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            c.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
    fn inspections(&self, id: &str) -> usize {
        self.inspects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, _)| id.starts_with(k.as_str()))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_relay_killed_and_restarted_keeps_routes() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut relay = Relay::new(dir.path().join("docker.sock"));
    relay.start();
    let id = unique("relay");
    let mut h = spawn(settings(
        &id,
        Some(format!("unix://{}", relay.path.display())),
    ));
    let first = Container::run(&format!("{id}-a"), &id, &[], &[]);
    let svc_a = format!("{id}-a");
    wait_config(&mut h, "first container routed", |c| {
        servers(c, &svc_a).len() == 1
    })
    .await;

    relay.kill();
    wait_status(&mut h, "error after the relay dies", |s| {
        matches!(s, ProviderStatus::Error(_))
    })
    .await;
    // The last good view stays published.
    let cfg = h.config.borrow().clone().expect("a view");
    assert!(
        cfg.http.routers.contains_key(&svc_a),
        "routes dropped: {:?}",
        cfg.http.routers.keys()
    );

    // A change while the engine is unreachable is picked up by the re-list on reconnect.
    let _second = Container::run(&format!("{id}-b"), &id, &[], &[]);
    let svc_b = format!("{id}-b");
    relay.start();
    wait_config(&mut h, "re-listed after reconnect", |c| {
        servers(c, &svc_a).len() == 1 && servers(c, &svc_b).len() == 1
    })
    .await;
    wait_status(&mut h, "ready again", |s| *s == ProviderStatus::Ready).await;
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_container_an_event_names_is_inspected_again() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut relay = Relay::new(dir.path().join("docker.sock"));
    relay.start();
    let id = unique("inspect");
    let quiet: Vec<Container> = (0..3)
        .map(|i| Container::run(&format!("{id}-q{i}"), &id, &[], &[]))
        .collect();
    let quiet_ids: Vec<String> = quiet
        .iter()
        .map(|c| docker(&["inspect", "-f", "{{.Id}}", &c.0]))
        .collect();
    let mut h = spawn(settings(
        &id,
        Some(format!("unix://{}", relay.path.display())),
    ));
    wait_config(&mut h, "three quiet containers", |c| {
        (0..3).all(|i| servers(c, &format!("{id}-q{i}")).len() == 1)
    })
    .await;
    let before: Vec<usize> = quiet_ids.iter().map(|q| relay.inspections(q)).collect();

    let busy = Container::run(&format!("{id}-busy"), &id, &[], &[]);
    let busy_svc = format!("{id}-busy");
    wait_config(&mut h, "busy routed", |c| servers(c, &busy_svc).len() == 1).await;
    docker(&["stop", &busy.0]);
    wait_config(&mut h, "busy gone", |c| {
        !c.http.routers.contains_key(&busy_svc)
    })
    .await;

    let after: Vec<usize> = quiet_ids.iter().map(|q| relay.inspections(q)).collect();
    assert_eq!(
        before, after,
        "quiet containers were inspected again on another container's events"
    );
    let busy_id = docker(&["inspect", "-f", "{{.Id}}", &busy.0]);
    assert!(
        relay.inspections(&busy_id) >= 1,
        "the busy container was never inspected"
    );
}

#[tokio::test]
async fn engine_down_at_start_reports_error_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = format!("unix://{}", dir.path().join("nothing.sock").display());
    let mut h = spawn(DockerSettings {
        endpoint: Some(endpoint),
        ..DockerSettings::default()
    });
    wait_status(&mut h, "error status", |s| {
        matches!(s, ProviderStatus::Error(_))
    })
    .await;
    assert!(
        h.config.borrow().is_none(),
        "no view may be published before a successful list"
    );
}

#[tokio::test]
async fn bad_settings_report_error() {
    let mut h = spawn(DockerSettings {
        constraints: "Label(`a`".into(),
        ..DockerSettings::default()
    });
    wait_status(
        &mut h,
        "error status",
        |s| matches!(s, ProviderStatus::Error(m) if m.contains("constraints")),
    )
    .await;
}

/// A read-only "socket proxy" on TCP (like tecnativa/docker-socket-proxy): relays to the engine
/// socket, answers 403 to anything but GET/HEAD and counts those refusals.
async fn read_only_tcp_proxy() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let refused = Arc::new(AtomicUsize::new(0));
    let r = refused.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut down, _)) = listener.accept().await else {
                return;
            };
            let r = r.clone();
            tokio::spawn(async move {
                let mut first = vec![0u8; 8192];
                let Ok(n) = down.read(&mut first).await else {
                    return;
                };
                let method = first[..n]
                    .split(|b| *b == b' ')
                    .next()
                    .unwrap_or_default()
                    .to_vec();
                if method != b"GET" && method != b"HEAD" {
                    r.fetch_add(1, Ordering::SeqCst);
                    let _ = down
                        .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut up) = UnixStream::connect(SOCK).await else {
                    return;
                };
                if up.write_all(&first[..n]).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
            });
        }
    });
    (addr, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_through_a_read_only_tcp_socket_proxy() {
    if !engine_available() {
        return;
    }
    let (addr, refused) = read_only_tcp_proxy().await;
    let id = unique("tcpproxy");
    let mut h = spawn(settings(&id, Some(format!("tcp://{addr}"))));
    let c = Container::run(&id, &id, &[], &[]);
    let url = format!("http://{}:80", c.ip());
    wait_config(&mut h, "routed through the tcp proxy", |cfg| {
        servers(cfg, &id) == [url.clone()]
    })
    .await;
    docker(&["stop", &id]);
    wait_config(&mut h, "stop followed through the tcp proxy", |cfg| {
        !cfg.http.routers.contains_key(&id)
    })
    .await;
    assert_eq!(
        refused.load(Ordering::SeqCst),
        0,
        "the provider made a non-read call"
    );
}
