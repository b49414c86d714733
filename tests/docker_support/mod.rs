//! Helpers of the end-to-end Docker tests: labelled containers on the machine's real engine
//! (removed on drop, even when a test fails), a derived image with a HEALTHCHECK, and a
//! unix-socket relay to the engine that a test can kill and restart.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{UnixListener, UnixStream};

pub const SOCK: &str = "/var/run/docker.sock";
pub const WHOAMI: &str = "wharf-whoami:dev";

/// False (with a note) when this machine has no engine; panics when the images are missing.
pub fn engine_available() -> bool {
    if !Path::new(SOCK).exists() {
        eprintln!("skipping: no docker engine socket at {SOCK}");
        return false;
    }
    let ok = Command::new("docker")
        .args(["image", "inspect", WHOAMI])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "image {WHOAMI} is missing: run images/build.sh first");
    true
}

pub fn docker(args: &[&str]) -> String {
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

/// A name unique to this test run.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "wharf-e2e-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A container removed when dropped.
pub struct Container(pub String);

impl Container {
    /// `docker run -d` of `image` with the test's selection label plus `labels`; `extra` items
    /// before `--` go to `docker run`, the rest to the container's command.
    pub fn run(
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
    pub fn ip(&self) -> String {
        docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &self.0,
        ])
    }
    /// The hostname whoami reports (the short container id).
    pub fn hostname(&self) -> String {
        docker(&["inspect", "-f", "{{.Config.Hostname}}", &self.0])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// `wharf-whoami:dev-health`: whoami with an exec-form HEALTHCHECK every second (a FROM scratch
/// image has no shell, so `docker run --health-cmd` cannot be used). Built offline from the
/// local image.
pub fn health_image() -> String {
    let tag = format!("{WHOAMI}-health");
    let dockerfile = format!(
        "FROM {WHOAMI}\nHEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [\"/whoami\", \"--healthcheck\", \"80\"]\n"
    );
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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

/// POST to a container's whoami (health flips), retried until it answers 200.
pub async fn post(ip: &str, port: u16, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let start = std::time::Instant::now();
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
            start.elapsed() < std::time::Duration::from_secs(20),
            "POST {path} to {ip}:{port} never succeeded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A unix-socket relay to the engine: `kill` closes the listener and every open connection.
/// It counts the engine calls it relays (container lists and inspections), on every request of
/// kept-alive connections too.
pub struct Relay {
    pub path: PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    pub calls: Arc<Calls>,
}

/// Engine calls seen by a [`Relay`].
#[derive(Default)]
pub struct Calls {
    pub lists: AtomicUsize,
    pub inspects: AtomicUsize,
}

impl Calls {
    /// Counts one request line (`GET /v1.41/containers/<id>/json HTTP/1.1`).
    fn count(&self, line: &str) {
        let mut words = line.split_whitespace();
        if words.next() != Some("GET") {
            return;
        }
        let path = words.next().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segs.as_slice() {
            [.., "containers", "json"] => {
                self.lists.fetch_add(1, Ordering::SeqCst);
            }
            [.., "containers", _, "json"] => {
                self.inspects.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

impl Relay {
    pub fn new(path: PathBuf) -> Relay {
        Relay {
            path,
            task: None,
            conns: Arc::default(),
            calls: Arc::default(),
        }
    }
    pub fn start(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("bind relay socket");
        let conns = self.conns.clone();
        let calls = self.calls.clone();
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((down, _)) = listener.accept().await else {
                    return;
                };
                let calls = calls.clone();
                let t = tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(up) = UnixStream::connect(SOCK).await else {
                        return;
                    };
                    let (mut down_r, mut down_w) = down.into_split();
                    let (mut up_r, mut up_w) = up.into_split();
                    // Both directions run in this task, so `kill` (abort) closes both.
                    let back = async move {
                        let _ = tokio::io::copy(&mut up_r, &mut down_w).await;
                    };
                    // Client to engine: the provider's requests are body-less GETs, so every
                    // line starting with GET is a request line.
                    let forth = async move {
                        let mut pending = String::new();
                        let mut buf = vec![0u8; 8192];
                        loop {
                            let n = match down_r.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                            while let Some(end) = pending.find('\n') {
                                calls.count(&pending[..end]);
                                pending.drain(..=end);
                            }
                            if up_w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = up_w.shutdown().await;
                    };
                    tokio::join!(forth, back);
                });
                conns.lock().unwrap_or_else(|e| e.into_inner()).push(t);
            }
        }));
    }
    pub fn kill(&mut self) {
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
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}
