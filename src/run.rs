//! run: the runtime wiring. Static config → logging → listeners (all bound before anything
//! serves) → providers → aggregate (throttled) → load referenced files → compile → store →
//! proxy on every entry point; SIGTERM/SIGINT stop accepting and let in-flight requests finish.
//!
//! Kept free of `anyhow` (the binary adds context); errors here are [`RunError`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use wharf_providers::DynamicConfig;

use crate::aggregate::{self, Views};
use crate::compile::{self, CompileInput, CompileSettings, FileContents, Registries, Report};
use crate::snapshot::SnapshotStore;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("entry point `{name}`: invalid address `{address}`: {reason}")]
    Address { name: String, address: String, reason: String },
    #[error("entry point `{name}`: cannot listen on {address}: {source} (is another process using the port?)")]
    Bind { name: String, address: SocketAddr, source: std::io::Error },
    #[error("logging: {0}")]
    Logging(String),
}

/// Parses a Traefik entry point address: `:80`, `0.0.0.0:80`, `[::1]:8080`, `host:80`, with an
/// optional `/tcp` suffix (`/udp` is refused: wharf has no UDP routers). An empty host means
/// every interface (IPv6 and IPv4).
pub fn parse_address(name: &str, address: &str) -> Result<SocketAddr, RunError> {
    let err = |reason: &str| RunError::Address { name: name.into(), address: address.into(), reason: reason.into() };
    let (addr, proto) = match address.rsplit_once('/') {
        Some((a, p)) => (a, p.to_ascii_lowercase()),
        None => (address, "tcp".to_string()),
    };
    if proto != "tcp" {
        return Err(err("only TCP entry points are supported"));
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(err("expected `[host]:port`"));
    };
    let port: u16 = port.parse().map_err(|_| err("the port is not a number from 0 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host.is_empty() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else if host.eq_ignore_ascii_case("localhost") {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().map_err(|_| err("the host must be an IP address or empty"))?
    };
    Ok(SocketAddr::new(ip, port))
}

/// Binds one listener. `[::]` is bound dual-stack; where IPv6 is unavailable it falls back to
/// `0.0.0.0`.
pub fn bind(name: &str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    let mk = |addr: SocketAddr| -> std::io::Result<std::net::TcpListener> {
        let domain = socket2::Domain::for_address(addr);
        let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
        if addr.is_ipv6() {
            s.set_only_v6(false)?;
        }
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(1024)?;
        Ok(s.into())
    };
    let std_l = match mk(addr) {
        Ok(l) => l,
        Err(e) if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && e.kind() != std::io::ErrorKind::AddrInUse => {
            let v4 = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), addr.port());
            mk(v4).map_err(|source| RunError::Bind { name: name.into(), address: v4, source })?
        }
        Err(source) => return Err(RunError::Bind { name: name.into(), address: addr, source }),
    };
    TcpListener::from_std(std_l).map_err(|source| RunError::Bind { name: name.into(), address: addr, source })
}

/// Binds every entry point before any serves, so a taken port fails the start with its name.
pub fn bind_all(entry_points: &[(String, SocketAddr)]) -> Result<Vec<(String, TcpListener)>, RunError> {
    let mut out = Vec::with_capacity(entry_points.len());
    for (name, addr) in entry_points {
        let l = bind(name, *addr)?;
        let local = l.local_addr().unwrap_or(*addr);
        // Tests (and operators using port 0) read the bound address from this line.
        tracing::info!(entry_point = %name, address = %local, "entry point listening");
        out.push((name.clone(), l));
    }
    Ok(out)
}

/// Routers without `entryPoints` join these: the `asDefault` entry points if any is flagged,
/// else all of them except `traefik` (the API's own), as Traefik does. Sorted.
pub fn default_entry_points<'a>(eps: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<String> {
    let eps: Vec<(&str, bool)> = eps.into_iter().collect();
    let flagged = eps.iter().any(|(_, d)| *d);
    let mut out: Vec<String> = eps
        .iter()
        .filter(|(name, d)| if flagged { *d } else { *name != "traefik" })
        .map(|(n, _)| n.to_string())
        .collect();
    out.sort();
    out
}

/// Reads every file the configuration refers to (serversTransport CAs and client certificates,
/// TLS certificates and client CAs). Inline PEM (Traefik accepts it in the same fields) is not
/// a path and is skipped. This is the only I/O before compile.
pub fn load_files(cfg: &DynamicConfig) -> FileContents {
    let mut paths = BTreeSet::new();
    let mut add = |p: &str| {
        if !p.is_empty() && !p.contains("-----BEGIN") {
            paths.insert(p.to_string());
        }
    };
    for st in cfg.http.servers_transports.values() {
        st.root_cas.iter().for_each(|p| add(p));
        for c in &st.certificates {
            add(&c.cert_file);
            add(&c.key_file);
        }
    }
    for c in &cfg.tls.certificates {
        add(&c.cert_file);
        add(&c.key_file);
    }
    for o in cfg.tls.options.values() {
        if let Some(ca) = &o.client_auth {
            ca.ca_files.iter().for_each(|p| add(p));
        }
    }
    for s in cfg.tls.stores.values() {
        if let Some(c) = &s.default_certificate {
            add(&c.cert_file);
            add(&c.key_file);
        }
    }
    paths
        .into_iter()
        .map(|p| {
            let r = std::fs::read(&p).map(Arc::from).map_err(|e| e.to_string());
            (p, r)
        })
        .collect()
}

/// What the compile loop needs besides the views.
#[derive(Debug)]
pub struct CompileLoop {
    pub settings: CompileSettings,
    pub default_entry_points: Vec<String>,
    pub registries: Arc<Registries>,
    pub store: SnapshotStore,
}

impl CompileLoop {
    /// Merges, loads files, compiles and stores once. Returns the new generation.
    pub fn apply(&self, views: &Views) -> u64 {
        let merged = Arc::new(aggregate::merge(views, &self.default_entry_points));
        let files = load_files(&merged);
        let started = std::time::Instant::now();
        let snap = compile::compile(CompileInput {
            config: merged,
            settings: &self.settings,
            files: &files,
            now: SystemTime::now(),
            registries: &self.registries,
        });
        let previous = self.store.load();
        log_report_changes(&previous.report, &snap.report);
        let routers = snap.report.routers.len();
        let g = self.store.store(snap);
        tracing::info!(generation = g, routers, took_ms = started.elapsed().as_millis() as u64, "configuration applied");
        g
    }

    /// Applies every change of `views` until the channel closes or `shutdown` fires.
    pub async fn run(self: Arc<Self>, mut views: watch::Receiver<Views>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                r = views.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
            let v = views.borrow_and_update().clone();
            let me = self.clone();
            // Compile is CPU work (10k routers take a while): keep it off the async workers.
            if tokio::task::spawn_blocking(move || me.apply(&v)).await.is_err() {
                tracing::error!("compile panicked; the previous snapshot keeps serving");
            }
        }
    }
}

/// Logs errors that are new since the previous report (not every compile's full list).
fn log_report_changes(prev: &Report, next: &Report) {
    let old: BTreeSet<String> = prev.error_lines().into_iter().collect();
    for line in next.error_lines() {
        if !old.contains(&line) {
            tracing::warn!("{line}");
        }
    }
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Sets up tracing: `level` is Traefik's (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`,
/// `PANIC`; default `ERROR` in Traefik, wharf's default `INFO` when empty); `format` is
/// `common` (default) or `json`. `RUST_LOG` overrides the level when set.
pub fn init_logging(level: &str, format: &str) -> Result<(), RunError> {
    use tracing_subscriber::EnvFilter;
    let lvl = match level.to_ascii_lowercase().as_str() {
        "" | "info" => "info",
        "trace" => "trace",
        "debug" => "debug",
        "warn" | "warning" => "warn",
        "error" | "fatal" | "panic" => "error",
        other => return Err(RunError::Logging(format!("unknown log.level `{other}` (trace, debug, info, warn, error)"))),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(lvl));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let r = match format.to_ascii_lowercase().as_str() {
        "" | "common" => b.try_init(),
        "json" => b.json().try_init(),
        other => return Err(RunError::Logging(format!("unknown log.format `{other}` (common or json)"))),
    };
    r.map_err(|e| RunError::Logging(e.to_string()))
}

/// `wharf healthcheck --ping`: GETs `http://<addr><path>` and succeeds on 200. A plain HTTP/1.1
/// exchange over a socket, so a `FROM scratch` image needs nothing else.
pub async fn healthcheck(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: wharf-healthcheck\r\n\r\n");
        s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        while !buf.windows(2).any(|w| w == b"\r\n") {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&buf);
        let status = line.split_whitespace().nth(1).unwrap_or("");
        if status == "200" {
            Ok(())
        } else {
            Err(format!("ping answered `{}`", line.lines().next().unwrap_or("")))
        }
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| format!("no answer from {addr} within {timeout:?}"))?
}

/// The address to reach a listener bound to `addr` from this machine (`[::]`/`0.0.0.0` →
/// loopback).
pub fn local_target(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::from([127, 0, 0, 1]), addr.port()),
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let p = |a: &str| parse_address("web", a).map_err(|e| e.to_string());
        assert_eq!(p(":80"), Ok("[::]:80".parse().unwrap_or_else(|_| unreachable!())));
        assert_eq!(p("127.0.0.1:8080/tcp"), Ok(SocketAddr::from(([127, 0, 0, 1], 8080))));
        assert_eq!(p("[::1]:443"), Ok("[::1]:443".parse().unwrap_or_else(|_| unreachable!())));
        assert!(p(":80/udp").is_err());
        assert!(p("80").is_err());
        assert!(p(":http").is_err());
    }

    #[test]
    fn default_eps() {
        assert_eq!(default_entry_points([("web", false), ("traefik", false), ("a", false)]), vec!["a", "web"]);
        assert_eq!(default_entry_points([("web", false), ("websecure", true)]), vec!["websecure"]);
    }

    #[tokio::test]
    async fn bind_reports_taken_port() {
        let l = bind("a", SocketAddr::from(([127, 0, 0, 1], 0)));
        let Ok(l) = l else { panic!("bind failed") };
        let addr = l.local_addr().unwrap_or_else(|_| unreachable!());
        match bind("b", addr) {
            Err(e) => assert!(e.to_string().contains("entry point `b`"), "{e}"),
            Ok(_) => panic!("second bind should fail"),
        }
    }
}
