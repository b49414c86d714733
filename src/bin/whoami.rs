//! whoami: the project's own tiny echo backend (examples, end-to-end tests, benchmarks). It sits
//! behind wharf as an upstream server: it answers every request with the request line, the
//! headers, its hostname and the port it listens on, so a test can tell which replica answered.
//!
//! - `--port N` or `PORT=N` (default 80); `--name X` or `WHOAMI_NAME=X` adds a `Name:` line.
//! - `GET /health` answers 200 `ok`, or 503 after `POST /health/fail` (and again 200 after
//!   `POST /health/ok`); `/health` also answers 503 while the file named by `WHOAMI_HEALTH_FILE`
//!   (or `--health-file`) exists, so a test can flip health with `docker exec`-free file tricks.
//! - `GET /ws` is a WebSocket echo (text and binary frames are sent back).
//! - `whoami --healthcheck [port]` requests `/health` on 127.0.0.1 and exits 0/1: a Docker
//!   `HEALTHCHECK` in a `FROM scratch` image has no curl.
//! - SIGTERM and SIGINT exit at once, so `docker stop` does not wait for its 10 s timeout.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct State {
    port: u16,
    hostname: String,
    name: Option<String>,
    healthy: AtomicBool,
    health_file: Option<String>,
}

fn arg_value(args: &[String], flag: &str) -> Option<String> {
    let eq = format!("{flag}=");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix(&eq) {
            return Some(v.to_string());
        }
    }
    None
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = arg_value(&args, "--port")
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(80);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("whoami: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(pos) = args.iter().position(|a| a == "--healthcheck") {
        let p = args
            .get(pos + 1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(port);
        return rt.block_on(healthcheck(p));
    }
    let state = Arc::new(State {
        port,
        hostname: hostname(),
        name: arg_value(&args, "--name").or_else(|| std::env::var("WHOAMI_NAME").ok()),
        healthy: AtomicBool::new(true),
        health_file: arg_value(&args, "--health-file")
            .or_else(|| std::env::var("WHOAMI_HEALTH_FILE").ok()),
    });
    match rt.block_on(serve(state)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("whoami: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn healthcheck(port: u16) -> std::process::ExitCode {
    let check = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<bool, std::io::Error>(
            buf.starts_with(b"HTTP/1.1 200") || buf.starts_with(b"HTTP/1.0 200"),
        )
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
        Ok(Ok(true)) => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::FAILURE,
    }
}

async fn serve(state: Arc<State>) -> std::io::Result<()> {
    // Dual-stack when possible, IPv4 otherwise (containers without IPv6).
    let listener = match TcpListener::bind(SocketAddr::from(([0u16; 8], state.port))).await {
        Ok(l) => l,
        Err(_) => TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], state.port))).await?,
    };
    println!("whoami listening on {}", listener.local_addr()?);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(_) => continue,
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        }
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::POST, "/health/fail") => {
            state.healthy.store(false, Ordering::SeqCst);
            return Ok(text(StatusCode::OK, "health: fail\n"));
        }
        (&Method::POST, "/health/ok") => {
            state.healthy.store(true, Ordering::SeqCst);
            return Ok(text(StatusCode::OK, "health: ok\n"));
        }
        (_, "/health") => {
            let file_says_bad = state
                .health_file
                .as_deref()
                .is_some_and(|f| std::path::Path::new(f).exists());
            return Ok(if state.healthy.load(Ordering::SeqCst) && !file_says_bad {
                text(StatusCode::OK, "ok\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n")
            });
        }
        (&Method::GET, "/ws") => return Ok(websocket(req)),
        _ => {}
    }
    let mut out = String::with_capacity(512);
    if let Some(n) = &state.name {
        out.push_str(&format!("Name: {n}\n"));
    }
    out.push_str(&format!("Hostname: {}\n", state.hostname));
    out.push_str(&format!("Port: {}\n", state.port));
    out.push_str(&format!("RemoteAddr: {peer}\n"));
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    out.push_str(&format!("{} {} {:?}\n", req.method(), pq, req.version()));
    for (k, v) in req.headers() {
        out.push_str(&format!(
            "{}: {}\n",
            k,
            String::from_utf8_lossy(v.as_bytes())
        ));
    }
    let method_has_body = req.method() != Method::GET && req.method() != Method::HEAD;
    if method_has_body {
        if let Ok(body) = req.into_body().collect().await {
            let b = body.to_bytes();
            if !b.is_empty() {
                out.push('\n');
                out.push_str(&String::from_utf8_lossy(&b));
            }
        }
    }
    let mut resp = text(StatusCode::OK, out);
    if let Ok(v) = http::HeaderValue::from_str(&state.hostname) {
        resp.headers_mut().insert("x-whoami-hostname", v);
    }
    Ok(resp)
}

fn websocket(mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let key = match req.headers().get("sec-websocket-key") {
        Some(k) => k.as_bytes().to_vec(),
        None => return text(StatusCode::BAD_REQUEST, "not a websocket request\n"),
    };
    let mut h = Sha1::new();
    h.update(&key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(h.finalize());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            let _ = ws_echo(TokioIo::new(up)).await;
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hd = r.headers_mut();
    hd.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    hd.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&accept) {
        hd.insert("sec-websocket-accept", v);
    }
    r
}

/// Minimal RFC 6455 echo: reads masked client frames, answers unmasked; close ends the loop.
async fn ws_echo<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> std::io::Result<()> {
    loop {
        let mut hdr = [0u8; 2];
        s.read_exact(&mut hdr).await?;
        let opcode = hdr[0] & 0x0f;
        let masked = hdr[1] & 0x80 != 0;
        let mut len = u64::from(hdr[1] & 0x7f);
        if len == 126 {
            len = u64::from(s.read_u16().await?);
        } else if len == 127 {
            len = s.read_u64().await?;
        }
        if len > 16 << 20 {
            return Ok(());
        }
        let mut mask = [0u8; 4];
        if masked {
            s.read_exact(&mut mask).await?;
        }
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).await?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        let reply_op = match opcode {
            0x0..=0x2 => opcode,
            0x8 => {
                write_frame(&mut s, 0x8, &payload).await?;
                return Ok(());
            }
            0x9 => 0xA,
            _ => continue,
        };
        write_frame(&mut s, reply_op, &payload).await?;
    }
}

async fn write_frame<S: AsyncWrite + Unpin>(
    s: &mut S,
    opcode: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    s.write_all(&out).await?;
    s.flush().await
}
