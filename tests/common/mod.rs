//! Helpers of the black-box core tests: start the real `wharf` binary on `127.0.0.1:0` entry
//! points (its log line `entry point listening entry_point=<name> address=<addr>` tells where it
//! bound), an in-process echo backend, a minimal HTTP/1.1 client and polling with a deadline.
#![allow(dead_code)]

mod serve;
// Not every test binary uses both.
#[allow(unused_imports)]
pub use serve::{serve_h2c, serve_http1};

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous deadline for conditions that should become true quickly.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The wharf binary under test: `WHARF_BIN` (scripts/test points it at the one static release
/// build that also goes into the images), else the one cargo built for this test run.
pub fn bin() -> String {
    std::env::var("WHARF_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wharf").to_string())
}

/// A running wharf process; killed on drop.
pub struct Wharf {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Wharf {
    /// Starts `wharf` with `args` (typically `--configFile <path>`).
    pub fn start(args: &[&str]) -> Wharf {
        let mut child = Command::new(bin())
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wharf binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().expect("log lock").push(line);
                }
            });
        }
        Wharf { child, lines }
    }

    /// Waits for the log line of entry point `name` and returns its bound address.
    pub fn address(&mut self, name: &str) -> SocketAddr {
        let needle = format!("entry_point={name} ");
        let start = Instant::now();
        loop {
            if let Some(addr) = self.lines.lock().expect("log lock").iter().find_map(|l| {
                if !l.contains("entry point listening") || !l.contains(&needle) {
                    return None;
                }
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("address="))
                    .and_then(|a| a.parse().ok())
            }) {
                return addr;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "wharf exited ({status}) before entry point `{name}` listened:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "entry point `{name}` never listened:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.lines.lock().expect("log lock").join("\n")
    }

    /// Sends SIGTERM (through `kill`, to keep the tests free of unsafe code).
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .map(|s| s.success());
        assert_eq!(ok.ok(), Some(true), "kill -TERM");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "wharf did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Wharf {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `contents` to `dir/name` atomically (write + rename, as editors do).
pub fn write_atomic(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).expect("write temp file");
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).expect("rename into place");
    path
}

/// A free port on 127.0.0.1 (bound then released; for configs that must name a fixed port).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A response as the tests see it.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 GET with `Connection: close`; reads to EOF (handles chunked and length bodies).
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<Resp> {
    get_with(addr, host, path, &[]).await
}

/// [`get`] with extra request headers.
pub async fn get_with(
    addr: SocketAddr,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> std::io::Result<Resp> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    parse_response(&buf).ok_or_else(|| {
        std::io::Error::other(format!("bad response: {:?}", String::from_utf8_lossy(&buf)))
    })
}

fn parse_response(buf: &[u8]) -> Option<Resp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let raw = &buf[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    Some(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..nl])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        raw = &raw[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after [`DEADLINE`].
pub async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls until `GET host path` through `addr` answers with a body containing `needle`.
pub async fn wait_body(addr: SocketAddr, host: &str, path: &str, needle: &str) -> Resp {
    poll(&format!("{host}{path} answering `{needle}`"), || async {
        get(addr, host, path)
            .await
            .ok()
            .filter(|r| r.body.contains(needle))
    })
    .await
}

/// How many `/slow` requests the echo backends of this test binary have started.
pub static SLOW_STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An echo backend: answers every request with `200` and a body `backend=<name> path=<path>`;
/// a request to `/slow` streams its body for ~1 s.
pub async fn echo_backend(name: &'static str) -> SocketAddr {
    use http_body_util::{BodyExt, Full, StreamBody};
    use hyper::body::{Bytes, Frame};
    serve_http1(
        move |req: hyper::Request<hyper::body::Incoming>| async move {
            let path = req.uri().path().to_string();
            if path == "/slow" {
                SLOW_STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let stream = futures_util::stream::unfold(0u32, |i| async move {
                    if i >= 10 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((
                        Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(format!(
                            "chunk{i};"
                        )))),
                        i + 1,
                    ))
                });
                let body = StreamBody::new(stream).boxed();
                return Ok::<_, std::convert::Infallible>(hyper::Response::new(body));
            }
            let body = Full::new(Bytes::from(format!("backend={name} path={path}")))
                .map_err(|e| match e {})
                .boxed();
            Ok(hyper::Response::new(body))
        },
    )
    .await
}
