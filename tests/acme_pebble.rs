//! ACME against a real pebble (Debian's `pebble` and `pebble-challtestsrv`, which answers DNS so
//! every test name resolves to 127.0.0.1). wharf is composed in-process (provider → aggregate →
//! compile → proxy with the runtime's pre-routing hooks) so the tests read the inventory and the
//! published certificates directly. Skipped with a message when pebble is not installed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::ServerCertVerifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use wharf::acme::{self, AcmeOptions, AcmeRuntime, CertState, CertificateInfo};
use wharf::compile::{CompileSettings, Registries};
use wharf::config::{Acme, CertificateResolver, HttpChallenge, TlsChallenge};
use wharf::proxy::{CancellationToken, EntryPointRedirect, EntryPointSettings, PreRouteHooks};
use wharf::rule::RuleSyntax;
use wharf::run::CompileLoop;
use wharf::snapshot::SnapshotStore;
use wharf_providers::provider::{self, ProviderSender};
use wharf_providers::DynamicConfig;

const DEADLINE: Duration = Duration::from_secs(30);

fn have_pebble() -> bool {
    let ok = |b: &str| Command::new(b).arg("-h").output().is_ok();
    if ok("pebble") && ok("pebble-challtestsrv") {
        true
    } else {
        eprintln!("pebble not installed (scripts/install-test-deps installs it); skipping");
        false
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process killed on drop.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// pebble + challtestsrv, configured for wharf's HTTP-01 and TLS-ALPN-01 ports.
struct Pebble {
    _pebble: Proc,
    _dns: Proc,
    /// The directory URL.
    dir_url: String,
    mgmt: SocketAddr,
    /// pebble-challtestsrv's management port (`/set-txt`, `/clear-txt`).
    dns_mgmt: SocketAddr,
    /// pebble-challtestsrv's DNS server.
    dns: SocketAddr,
    /// pebble's own TLS certificate (trusted through `caCertificates`).
    tls_cert: PathBuf,
    /// The name that certificate is for.
    tls_name: String,
}

async fn wait_port(addr: SocketAddr) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(start.elapsed() < DEADLINE, "{addr} never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start_pebble(dir: &Path, http_port: u16, tls_port: u16, validity_secs: u64) -> Pebble {
    start_pebble_with(
        dir,
        http_port,
        tls_port,
        validity_secs,
        PebbleOpts::default(),
    )
    .await
}

/// Less common pebble settings.
#[derive(Default)]
struct PebbleOpts {
    /// Where pebble's validator asks DNS (default: its pebble-challtestsrv).
    dns_server: Option<SocketAddr>,
    /// External account binding required, with this (kid, base64url MAC key).
    eab: Option<(String, String)>,
    /// pebble's own TLS certificate names only this (so only `caServerName` verifies it).
    server_name: Option<String>,
}

async fn start_pebble_with(
    dir: &Path,
    http_port: u16,
    tls_port: u16,
    validity_secs: u64,
    opts: PebbleOpts,
) -> Pebble {
    let dns_server = opts.dns_server;
    let key = rcgen::KeyPair::generate().expect("key");
    let names = match &opts.server_name {
        Some(n) => vec![n.clone()],
        None => vec!["localhost".to_string(), "127.0.0.1".to_string()],
    };
    let mut params = rcgen::CertificateParams::new(names).expect("params");
    params.is_ca = rcgen::IsCa::NoCa;
    let cert = params.self_signed(&key).expect("self-signed");
    let tls_cert = dir.join("pebble-cert.pem");
    std::fs::write(&tls_cert, cert.pem()).expect("write cert");
    std::fs::write(dir.join("pebble-key.pem"), key.serialize_pem()).expect("write key");
    let (listen, mgmt, dns, dns_mgmt) = (free_port(), free_port(), free_port(), free_port());
    let mut validity = if validity_secs > 0 {
        format!(", \"certificateValidityPeriod\": {validity_secs}")
    } else {
        String::new()
    };
    let eab_required = opts.eab.is_some();
    if let Some((kid, mac)) = &opts.eab {
        validity.push_str(&format!(
            ", \"externalAccountMACKeys\": {{\"{kid}\": \"{mac}\"}}"
        ));
    }
    let cfg = format!(
        "{{\"pebble\": {{\"listenAddress\": \"127.0.0.1:{listen}\", \"managementListenAddress\": \"127.0.0.1:{mgmt}\", \"certificate\": \"{}\", \"privateKey\": \"{}\", \"httpPort\": {http_port}, \"tlsPort\": {tls_port}, \"ocspResponderURL\": \"\", \"externalAccountBindingRequired\": {eab_required}{validity}}}}}",
        tls_cert.display(),
        dir.join("pebble-key.pem").display()
    );
    let cfg_path = dir.join("pebble.json");
    std::fs::write(&cfg_path, cfg).expect("write pebble config");
    let dns_proc = Command::new("pebble-challtestsrv")
        .args([
            "-management",
            &format!("127.0.0.1:{dns_mgmt}"),
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("challtestsrv starts");
    let pebble = Command::new("pebble")
        .args([
            "-config",
            cfg_path.to_str().expect("utf8"),
            "-dnsserver",
            &dns_server.map_or_else(|| format!("127.0.0.1:{dns}"), |a| a.to_string()),
        ])
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble starts");
    let p = Pebble {
        _pebble: Proc(pebble),
        _dns: Proc(dns_proc),
        dir_url: format!("https://127.0.0.1:{listen}/dir"),
        mgmt: SocketAddr::from(([127, 0, 0, 1], mgmt)),
        dns_mgmt: SocketAddr::from(([127, 0, 0, 1], dns_mgmt)),
        dns: SocketAddr::from(([127, 0, 0, 1], dns)),
        tls_cert,
        tls_name: opts
            .server_name
            .clone()
            .unwrap_or_else(|| "localhost".into()),
    };
    wait_port(SocketAddr::from(([127, 0, 0, 1], listen))).await;
    wait_port(SocketAddr::from(([127, 0, 0, 1], dns_mgmt))).await;
    wait_port(p.mgmt).await;
    p
}

impl Pebble {
    /// pebble's issuing root (`/roots/0` on the management port).
    async fn root(&self) -> rustls::pki_types::CertificateDer<'static> {
        let pem = https_get(self.mgmt, &self.tls_cert, &self.tls_name, "/roots/0").await;
        let mut r = pem.as_bytes();
        let root = rustls_pemfile::certs(&mut r)
            .next()
            .expect("a root")
            .expect("root PEM");
        root.into_owned()
    }
}

/// A minimal HTTPS GET trusting `ca` (pebble's own certificate).
async fn https_get(addr: SocketAddr, ca: &Path, server_name: &str, path: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).expect("ca");
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.expect("pem")).expect("add root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .expect("tls");
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("write");
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // pebble answers with Content-Length here; chunked bodies are not expected.
    body.to_string()
}

/// A plain HTTP/1.1 GET: (status, Location, body).
async fn get(addr: SocketAddr, host: &str, path: &str) -> Option<(u16, String, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .unwrap_or("")
        .to_string();
    Some((status, location, body.to_string()))
}

/// A backend answering `backend-ok` to everything.
async fn backend() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nbackend-ok")
                    .await;
            });
        }
    });
    addr
}

/// wharf composed in-process: a test-fed provider named `file`, the ACME runtime, the compile
/// loop and the `web` entry point with the ACME hook (and optionally a redirect to HTTPS).
struct Harness {
    file: ProviderSender,
    acme: AcmeRuntime,
    web: SocketAddr,
    _stop: watch::Sender<bool>,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn resolver(
    storage: &Path,
    pebble_dir: &str,
    ca: &Path,
    tls: bool,
) -> BTreeMap<String, CertificateResolver> {
    let mut acme = Acme {
        email: "ops@example.com".into(),
        storage: storage.display().to_string(),
        ca_server: pebble_dir.into(),
        ca_certificates: vec![ca.display().to_string()],
        key_type: "EC256".into(),
        ..Default::default()
    };
    if tls {
        acme.tls_challenge = Some(TlsChallenge {});
    } else {
        acme.http_challenge = Some(HttpChallenge {
            entry_point: "web".into(),
            ..Default::default()
        });
    }
    let mut m = BTreeMap::new();
    m.insert(
        "le".to_string(),
        CertificateResolver {
            acme: Some(acme),
            tailscale: None,
        },
    );
    m
}

async fn harness(
    web: std::net::TcpListener,
    resolvers: &BTreeMap<String, CertificateResolver>,
    redirect: bool,
    options: AcmeOptions,
) -> Harness {
    web.set_nonblocking(true).expect("nonblocking");
    let web = tokio::net::TcpListener::from_std(web).expect("listener");
    let addr = web.local_addr().expect("addr");
    let store = SnapshotStore::new();
    let (file, file_handle) = provider::channel("file");
    let acme = acme::start(resolvers, store.clone(), options);
    let mut providers = vec![file_handle];
    providers.extend(acme.providers.iter().cloned());
    let views = wharf::aggregate::spawn(providers, Duration::from_millis(20));
    let cl = Arc::new(CompileLoop {
        settings: CompileSettings {
            entry_points: vec!["web".into()],
            default_rule_syntax: RuleSyntax::V3,
            internal_services: Default::default(),
            entry_point_tls: Default::default(),
        },
        default_entry_points: vec!["web".into()],
        models: Default::default(),
        registries: Arc::new(Registries::default()),
        store: store.clone(),
    });
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(cl.run(views, stop_rx));
    let mut settings = EntryPointSettings::new("web", addr);
    if redirect {
        settings.redirect = Some(EntryPointRedirect {
            scheme: "https".into(),
            port: Some(443),
            permanent: true,
        });
    }
    let mut hooks = PreRouteHooks::new();
    if acme.http_entry_points.contains("web") {
        hooks.add(acme::HTTP01_PREFIX, acme.http01_hook());
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(wharf::proxy::serve(
        web,
        Arc::new(settings),
        store.cell(),
        Arc::new(hooks),
        shutdown.clone(),
    ));
    Harness {
        file,
        acme,
        web: addr,
        _stop: stop,
        shutdown,
    }
}

/// Routers: `plain` (no TLS) on `plain.test`, and one TLS router per host naming resolver `le`.
fn routes(backend: SocketAddr, tls_hosts: &[&str]) -> DynamicConfig {
    let mut y = "http:\n  routers:\n    plain:\n      rule: \"Host(`plain.test`)\"\n      service: s\n      entryPoints: [web]\n".to_string();
    for (i, h) in tls_hosts.iter().enumerate() {
        y.push_str(&format!(
            "    r{i}:\n      rule: \"Host(`{h}`)\"\n      service: s\n      entryPoints: [web]\n      tls:\n        certResolver: le\n"
        ));
    }
    y.push_str(&format!(
        "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n"
    ));
    serde_norway::from_str(&y).expect("routes yaml")
}

async fn poll<T>(what: &str, h: &Harness, mut f: impl FnMut(&[CertificateInfo]) -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        let inv = h.acme.inventory.list();
        if let Some(v) = f(&inv) {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}; inventory: {inv:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn valid(inv: &[CertificateInfo], domain: &str) -> Option<CertificateInfo> {
    inv.iter()
        .find(|c| c.domains.iter().any(|d| d == domain) && c.state == CertState::Valid)
        .cloned()
}

/// The certificate PEM the resolver publishes for `domain`, verified against pebble's root.
fn verify_published(
    h: &Harness,
    domain: &str,
    root: &rustls::pki_types::CertificateDer<'static>,
) -> String {
    let view = h.acme.providers[0]
        .config
        .borrow()
        .clone()
        .expect("published view");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("root");
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("verifier");
    let name = rustls::pki_types::ServerName::try_from(domain.to_string()).expect("name");
    for c in &view.tls.certificates {
        let chain: Vec<_> = rustls_pemfile::certs(&mut c.cert_file.as_bytes())
            .collect::<Result<_, _>>()
            .expect("chain PEM");
        let now = rustls::pki_types::UnixTime::now();
        if verifier
            .verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
            .is_ok()
        {
            assert!(c.key_file.contains("PRIVATE KEY"));
            return c.cert_file.clone();
        }
    }
    panic!("no published certificate for {domain} chains to pebble's root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_under_redirect_runtime_router_and_restart_without_reissue() {
    if !have_pebble() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let web_port = web.local_addr().expect("addr").port();
    let pebble = start_pebble(tmp.path(), web_port, free_port(), 0).await;
    let root = pebble.root().await;
    let storage = tmp.path().join("acme.json");
    let resolvers = resolver(&storage, &pebble.dir_url, &pebble.tls_cert, false);
    let be = backend().await;

    // The entry point redirects everything to HTTPS; HTTP-01 must still be answered.
    let h = harness(web, &resolvers, true, AcmeOptions::default()).await;
    h.file.publish(routes(be, &["one.test"]));
    let one = poll("one.test issued", &h, |inv| valid(inv, "one.test")).await;
    assert_eq!(one.resolver, "le");
    assert_eq!(one.routers, vec!["r0@file".to_string()]);
    assert!(one.issuer.contains("Pebble"), "{}", one.issuer);
    assert!(one.next_renewal < one.not_after);
    let pem_one = verify_published(&h, "one.test", &root);
    // wharf serves it (TLS is sniffed on `web`; the redirect applies to plain HTTP only).
    wait_served(h.web, "one.test", &root, &pem_one).await;
    // Plain traffic on the redirecting entry point is redirected; unknown tokens are 404 here.
    let (status, location, _) = get(h.web, "plain.test", "/x").await.expect("get");
    assert_eq!((status, location.as_str()), (301, "https://plain.test/x"));
    let (status, _, _) = get(h.web, "plain.test", "/.well-known/acme-challenge/nope")
        .await
        .expect("get");
    assert_eq!(status, 404);

    // A router appearing at runtime gets its certificate.
    h.file.publish(routes(be, &["one.test", "two.test"]));
    poll("two.test issued", &h, |inv| valid(inv, "two.test")).await;
    let pem_two = verify_published(&h, "two.test", &root);
    wait_served(h.web, "two.test", &root, &pem_two).await;
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&storage).expect("acme.json")).expect("json");
    assert_eq!(
        stored["le"]["Certificates"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(stored["le"]["Account"]["Registration"]["uri"]
        .as_str()
        .unwrap_or("")
        .starts_with("https://127.0.0.1:"));
    let bytes_before = std::fs::read(&storage).expect("acme.json");
    drop(h);

    // Restart with the same acme.json: both serve at once, nothing is ordered.
    // Same port: pebble's validator dials the httpPort of its config (forced renewal below).
    let web2 = rebind(web_port).await;
    let h2 = harness(web2, &resolvers, false, AcmeOptions::default()).await;
    h2.file.publish(routes(be, &["one.test", "two.test"]));
    let inv = poll("restored", &h2, |inv| {
        (valid(inv, "one.test").is_some() && valid(inv, "two.test").is_some()).then(|| inv.to_vec())
    })
    .await;
    assert_eq!(inv.len(), 2, "{inv:#?}");
    assert_eq!(verify_published(&h2, "one.test", &root), pem_one);
    wait_served(h2.web, "one.test", &root, &pem_one).await;
    // Let the loop see a few generations; the file must stay as it was (no order, no rewrite).
    h2.file.publish(routes(be, &["two.test", "one.test"]));
    let (status, _, body) = get(h2.web, "plain.test", "/").await.expect("get");
    assert_eq!((status, body.as_str()), (200, "backend-ok"));
    assert_eq!(std::fs::read(&storage).expect("acme.json"), bytes_before);
    assert!(h2
        .acme
        .inventory
        .list()
        .iter()
        .all(|c| c.state == CertState::Valid && c.failures == 0));

    // Forced renewal (the API's opt-in action) orders a new certificate for that set only.
    assert_eq!(
        h2.acme.renewals.request("le:nope.test"),
        Err(acme::RenewError::Unknown("le:nope.test".into()))
    );
    h2.acme
        .renewals
        .request("le:one.test")
        .expect("renewal queued");
    let start = Instant::now();
    let renewed = loop {
        let pem = verify_published(&h2, "one.test", &root);
        if pem != pem_one {
            break pem;
        }
        assert!(start.elapsed() < DEADLINE, "forced renewal never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    wait_served(h2.web, "one.test", &root, &renewed).await;
    assert_eq!(verify_published(&h2, "two.test", &root), pem_two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_when_a_third_of_the_lifetime_remains() {
    if !have_pebble() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let web_port = web.local_addr().expect("addr").port();
    // 15-second certificates: renewal due after about 10 s.
    let pebble = start_pebble(tmp.path(), web_port, free_port(), 15).await;
    let storage = tmp.path().join("acme.json");
    let resolvers = resolver(&storage, &pebble.dir_url, &pebble.tls_cert, false);
    let be = backend().await;
    let h = harness(web, &resolvers, false, AcmeOptions::default()).await;
    h.file.publish(routes(be, &["renew.test"]));
    let first = poll("issued", &h, |inv| valid(inv, "renew.test")).await;
    let (na, renew_at) = (
        first.not_after.unwrap_or(0),
        first.next_renewal.unwrap_or(0),
    );
    assert!(
        renew_at < na && na - renew_at >= 4,
        "renewal {renew_at} vs not-after {na}"
    );
    let root = pebble.root().await;
    // The first certificate is served...
    let served_not_after = |leaf: &rustls::pki_types::CertificateDer<'_>| {
        let (_, c) = x509_parser::parse_x509_certificate(leaf.as_ref()).expect("leaf");
        c.validity().not_after.timestamp() as u64
    };
    let start = Instant::now();
    loop {
        if let Some((leaf, body)) = tls_get(h.web, "renew.test", &root).await {
            assert_eq!(body, "backend-ok");
            if served_not_after(&leaf) >= na {
                break;
            }
        }
        assert!(start.elapsed() < DEADLINE, "renew.test never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = poll("renewed", &h, |inv| {
        valid(inv, "renew.test").filter(|c| c.not_after.unwrap_or(0) > na)
    })
    .await;
    assert_eq!(second.failures, 0);
    // ...and the renewed one replaces it on the same listener, without a restart.
    let start = Instant::now();
    loop {
        if let Some((leaf, body)) = tls_get(h.web, "renew.test", &root).await {
            assert_eq!(body, "backend-ok");
            if served_not_after(&leaf) > na {
                break;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&storage).expect("acme.json")).expect("json");
    // The renewed certificate replaced the old one.
    assert_eq!(
        stored["le"]["Certificates"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_down_backs_off_visibly_and_plain_traffic_is_unaffected() {
    // No pebble needed: the CA is a closed port.
    let tmp = tempfile::tempdir().expect("tempdir");
    let storage = tmp.path().join("acme.json");
    let ca = format!("https://127.0.0.1:{}/dir", free_port());
    let resolvers = resolver(&storage, &ca, &write_dummy_ca(tmp.path()), false);
    let be = backend().await;
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let options = AcmeOptions {
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(4),
        ..Default::default()
    };
    let h = harness(web, &resolvers, false, options).await;
    h.file.publish(routes(be, &["down.test"]));
    let (status, _, body) = get_until(h.web, "plain.test", 200).await;
    assert_eq!((status, body.as_str()), (200, "backend-ok"));
    let backing = poll("backoff visible", &h, |inv| {
        inv.iter()
            .find(|c| {
                c.domains == ["down.test"] && c.state == CertState::BackingOff && c.failures >= 2
            })
            .cloned()
    })
    .await;
    assert!(backing.retry_at.is_some());
    assert!(
        backing
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("account registration"),
        "{backing:?}"
    );
    // The backoff survives a restart: it is stored beside acme.json.
    let b = wharf::acme::store::AcmeStore::new(&storage).load_backoff("le");
    assert!(b.get("down.test").is_some_and(|e| e.failures >= 2), "{b:?}");
    let (status, _, _) = get(h.web, "plain.test", "/").await.expect("get");
    assert_eq!(status, 200);
}

fn write_dummy_ca(dir: &Path) -> PathBuf {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let p = dir.join("ca.pem");
    std::fs::write(&p, cert.pem()).expect("write");
    p
}

async fn get_until(addr: SocketAddr, host: &str, want: u16) -> (u16, String, String) {
    let start = Instant::now();
    loop {
        if let Some(r) = get(addr, host, "/").await {
            if r.0 == want {
                return r;
            }
        }
        assert!(start.elapsed() < DEADLINE, "{host} never answered {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// TLS-ALPN-01: pebble dials the `tlsPort`, which is wharf's `web` entry point (TLS is sniffed
/// on every entry point): the TLS module presents the resolver's challenge certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_issuance_and_served() {
    if !have_pebble() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let web_port = web.local_addr().expect("addr").port();
    let pebble = start_pebble(tmp.path(), free_port(), web_port, 0).await;
    let root = pebble.root().await;
    let storage = tmp.path().join("acme.json");
    let resolvers = resolver(&storage, &pebble.dir_url, &pebble.tls_cert, true);
    let be = backend().await;
    let h = harness(web, &resolvers, false, AcmeOptions::default()).await;
    assert!(h.acme.http_entry_points.is_empty());
    h.file.publish(routes(be, &["alpn.test"]));
    poll("alpn.test issued", &h, |inv| valid(inv, "alpn.test")).await;
    let pem = verify_published(&h, "alpn.test", &root);
    wait_served(h.web, "alpn.test", &root, &pem).await;
    // The challenge certificate is removed once the order is done.
    assert!(h.acme.tls_alpn.get("alpn.test").is_none());
}

/// The leaf certificate wharf presents for `sni` (verified against `root`), and the response
/// body of `GET /` over that connection.
async fn tls_get(
    addr: SocketAddr,
    sni: &str,
    root: &rustls::pki_types::CertificateDer<'static>,
) -> Option<(rustls::pki_types::CertificateDer<'static>, String)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).ok()?;
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).ok()?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .ok()?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()?
        .first()?
        .clone()
        .into_owned();
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some((
        leaf,
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

/// Waits until wharf serves the certificate `pem` (chain PEM) for `sni`, and routes over it.
async fn wait_served(
    addr: SocketAddr,
    sni: &str,
    root: &rustls::pki_types::CertificateDer<'static>,
    pem: &str,
) {
    let want = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .expect("leaf")
        .expect("pem")
        .into_owned();
    let start = Instant::now();
    loop {
        if let Some((leaf, body)) = tls_get(addr, sni, root).await {
            if leaf == want {
                assert_eq!(body, "backend-ok");
                return;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "wharf never served the issued certificate for {sni}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// DNS-01 through lego's `exec` hook: the script publishes the TXT record in
/// pebble-challtestsrv (`/set-txt`) and clears it afterwards (`/clear-txt`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_exec_issuance() {
    if !have_pebble() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let pebble = start_pebble(tmp.path(), free_port(), free_port(), 0).await;
    let root = pebble.root().await;
    let log = tmp.path().join("exec.log");
    let script = tmp.path().join("dns.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\necho \"$1 $2\" >> {log}\ncase \"$1\" in\n  present) curl -sf -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" http://{m}/set-txt ;;\n  cleanup) curl -sf -d \"{{\\\"host\\\":\\\"$2\\\"}}\" http://{m}/clear-txt ;;\nesac\n",
            log = log.display(),
            m = pebble.dns_mgmt
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let storage = tmp.path().join("acme.json");
    let mut resolvers = resolver(&storage, &pebble.dir_url, &pebble.tls_cert, false);
    if let Some(a) = resolvers.get_mut("le").and_then(|r| r.acme.as_mut()) {
        a.http_challenge = None;
        // The propagation check asks challtestsrv (its only resolver); challtestsrv answers
        // every A query with 127.0.0.1, so the authoritative-server check (port 53) is off.
        a.dns_challenge = Some(
            serde_norway::from_str(&format!(
                "provider: exec\nresolvers: [\"{}\"]\npropagation:\n  disableANSChecks: true\n  requireAllRNS: true\n",
                pebble.dns
            ))
            .expect("dnsChallenge"),
        );
    }
    let options = AcmeOptions {
        dns_exec: Some(acme::DnsExec {
            path: script.display().to_string(),
            raw: false,
        }),
        ..Default::default()
    };
    let be = backend().await;
    let h = harness(web, &resolvers, false, options).await;
    h.file.publish(routes(be, &["dns.test"]));
    poll("dns.test issued", &h, |inv| valid(inv, "dns.test")).await;
    let pem = verify_published(&h, "dns.test", &root);
    wait_served(h.web, "dns.test", &root, &pem).await;
    let calls = std::fs::read_to_string(&log).expect("exec log");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        vec![
            "present _acme-challenge.dns.test.",
            "cleanup _acme-challenge.dns.test."
        ]
    );
}

/// Binds 127.0.0.1:`port` again once the previous listener is gone (SO_REUSEADDR, as wharf binds).
async fn rebind(port: u16) -> std::net::TcpListener {
    let start = Instant::now();
    loop {
        if let Ok(l) = wharf::run::bind("web", SocketAddr::from(([127, 0, 0, 1], port))) {
            return l.into_std().expect("std listener");
        }
        assert!(start.elapsed() < DEADLINE, "port {port} never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `dynamic.yml` in `dir`: router `app` on `Host(`host`)` with `certResolver: le`, to
/// service `s` balancing to `be`. Returns its path.
fn write_resolver_route(dir: &Path, host: &str, be: SocketAddr) -> PathBuf {
    let dynamic = dir.join("dynamic.yml");
    std::fs::write(
        &dynamic,
        format!(
            "http:\n  routers:\n    app:\n      rule: \"Host(`{host}`)\"\n      service: s\n      tls:\n        certResolver: le\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{be}\"\n"
        ),
    )
    .expect("dynamic");
    dynamic
}

/// The real binary on `static_cfg`, output discarded; killed when the handle drops.
fn spawn_wharf(static_cfg: &Path) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["--configFile", static_cfg.to_str().expect("utf8")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wharf starts");
    Proc(child)
}

/// The real binary: `certificatesResolvers` in the static configuration start the resolver, the
/// HTTP-01 hook sits on `httpChallenge.entryPoint` (under an entry-point redirect), and the
/// issued certificate is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_wires_resolvers_from_static_config() {
    if !have_pebble() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let web_port = free_port();
    let pebble = start_pebble(tmp.path(), web_port, free_port(), 0).await;
    let root = pebble.root().await;
    let be = backend().await;
    let dynamic = write_resolver_route(tmp.path(), "bin.test", be);
    let storage = tmp.path().join("acme.json");
    let static_cfg = tmp.path().join("wharf.yml");
    std::fs::write(
        &static_cfg,
        format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:{web_port}\"\n    http:\n      redirections:\n        entryPoint:\n          to: \":443\"\n          scheme: https\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    filename: \"{}\"\ncertificatesResolvers:\n  le:\n    acme:\n      email: ops@example.com\n      storage: \"{}\"\n      caServer: \"{}\"\n      caCertificates: [\"{}\"]\n      keyType: EC384\n      httpChallenge:\n        entryPoint: web\n",
            dynamic.display(),
            storage.display(),
            pebble.dir_url,
            pebble.tls_cert.display()
        ),
    )
    .expect("static");
    let _wharf = spawn_wharf(&static_cfg);
    let web = SocketAddr::from(([127, 0, 0, 1], web_port));
    wait_port(web).await;
    let start = Instant::now();
    let leaf = loop {
        if let Some((leaf, body)) = tls_get(web, "bin.test", &root).await {
            assert_eq!(body, "backend-ok");
            break leaf;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "bin.test never served a pebble certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).expect("leaf");
    // keyType EC384: the certificate carries an EC key (id-ecPublicKey).
    assert_eq!(
        cert.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&storage)
            .expect("acme.json")
            .permissions(),
    ) & 0o777;
    assert_eq!(mode, 0o600);
    let (status, location, _) = get(web, "bin.test", "/x").await.expect("get");
    assert_eq!((status, location.as_str()), (301, "https://bin.test/x"));
}

/// knotd (Debian's `knot`), authoritative for `wharf.test` on a free loopback port, accepting
/// dynamic updates signed with TSIG key `wharf-key` (HMAC-SHA256, `secret` in base64).
struct Knot {
    _proc: Proc,
    addr: SocketAddr,
}

/// knotd lives in /usr/sbin, which a non-root PATH may miss.
fn knotd() -> &'static str {
    if Command::new("knotd").arg("-V").output().is_ok() {
        "knotd"
    } else {
        "/usr/sbin/knotd"
    }
}

fn have_knot() -> bool {
    if Command::new(knotd()).arg("-V").output().is_ok() {
        true
    } else {
        eprintln!("knotd not installed (scripts/install-test-deps installs knot); skipping");
        false
    }
}

async fn start_knot(dir: &Path, secret: &str) -> Knot {
    let port = free_port();
    let zone = dir.join("wharf.test.zone");
    std::fs::write(
        &zone,
        "$ORIGIN wharf.test.\n$TTL 60\n@ SOA ns.wharf.test. admin.wharf.test. 1 3600 600 86400 60\n@ NS ns.wharf.test.\nns A 127.0.0.1\n_acme-challenge.alias CNAME _acme-challenge.target\n",
    )
    .expect("zone file");
    let d = dir.display();
    let conf = dir.join("knot.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  listen: 127.0.0.1@{port}\n  rundir: {d}\ndatabase:\n  storage: {d}/db\nkey:\n  - id: wharf-key\n    algorithm: hmac-sha256\n    secret: {secret}\nacl:\n  - id: update\n    key: wharf-key\n    action: update\nzone:\n  - domain: wharf.test\n    storage: {d}\n    file: wharf.test.zone\n    acl: update\n    zonefile-sync: -1\n    journal-content: none\n"
        ),
    )
    .expect("knot.conf");
    let child = Command::new(knotd())
        .args(["-c", conf.to_str().expect("utf8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("knotd starts");
    let knot = Knot {
        _proc: Proc(child),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    // Ready once it answers the zone's SOA.
    let start = Instant::now();
    loop {
        let q = wharf::acme::dns::wire::query(
            1,
            "wharf.test.",
            wharf::acme::dns::wire::TYPE_SOA,
            false,
        )
        .expect("query");
        if let Ok((_, m)) =
            wharf::acme::dns::exchange(knot.addr, &q, Duration::from_millis(200)).await
        {
            if m.rcode() == 0 && !m.answers.is_empty() {
                return knot;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "knotd never answered on {}",
            knot.addr
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The TXT values knot holds at `fqdn`.
async fn knot_txt(knot: &Knot, fqdn: &str) -> Vec<String> {
    let q = wharf::acme::dns::wire::query(2, fqdn, wharf::acme::dns::wire::TYPE_TXT, false)
        .expect("query");
    let (_, m) = wharf::acme::dns::exchange(knot.addr, &q, Duration::from_secs(2))
        .await
        .expect("knot answers");
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            wharf::acme::dns::wire::RData::Txt(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn rfc2136_resolver(
    storage: &Path,
    pebble: &Pebble,
    knot: &Knot,
) -> BTreeMap<String, CertificateResolver> {
    let mut resolvers = resolver(storage, &pebble.dir_url, &pebble.tls_cert, false);
    if let Some(a) = resolvers.get_mut("le").and_then(|r| r.acme.as_mut()) {
        a.http_challenge = None;
        // knot is the only resolver and the authority; it does not listen on port 53, so the
        // authoritative-server check is off and every resolver (knot) must show the record.
        a.dns_challenge = Some(
            serde_norway::from_str(&format!(
                "provider: rfc2136\nresolvers: [\"{}\"]\npropagation:\n  disableANSChecks: true\n  requireAllRNS: true\n",
                knot.addr
            ))
            .expect("dnsChallenge"),
        );
    }
    resolvers
}

fn rfc2136_env(knot: &Knot, secret: &str) -> wharf::acme::dns::LegoEnv {
    let vars: BTreeMap<String, String> = [
        ("RFC2136_NAMESERVER", knot.addr.to_string()),
        ("RFC2136_TSIG_KEY", "wharf-key".to_string()),
        ("RFC2136_TSIG_SECRET", secret.to_string()),
        ("RFC2136_TSIG_ALGORITHM", "hmac-sha256.".to_string()),
        ("RFC2136_TTL", "30".to_string()),
        ("RFC2136_PROPAGATION_TIMEOUT", "20".to_string()),
        ("RFC2136_POLLING_INTERVAL", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    wharf::acme::dns::LegoEnv::fixed(vars)
}

/// DNS-01 through RFC 2136 dynamic updates signed with TSIG, against a real knotd that pebble
/// asks for the TXT records: a host name, a wildcard with its apex (two TXT values at one name
/// at once), and a name whose `_acme-challenge` is a CNAME (the update goes to the target). The
/// records are removed afterwards. A wrong TSIG secret is refused by knot,
/// and the refusal shows in the inventory with the server's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_rfc2136_tsig_against_knot() {
    if !have_pebble() || !have_knot() {
        return;
    }
    use base64::Engine;
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let knot = start_knot(tmp.path(), &secret).await;
    let pebble = start_pebble_with(
        tmp.path(),
        free_port(),
        free_port(),
        0,
        PebbleOpts {
            dns_server: Some(knot.addr),
            ..Default::default()
        },
    )
    .await;
    let root = pebble.root().await;
    let storage = tmp.path().join("acme.json");
    let resolvers = rfc2136_resolver(&storage, &pebble, &knot);
    let options = AcmeOptions {
        lego_env: rfc2136_env(&knot, &secret),
        ..Default::default()
    };
    let be = backend().await;
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let h = harness(web, &resolvers, false, options).await;
    let mut cfg = routes(be, &["rfc.wharf.test", "alias.wharf.test"]);
    let wild: DynamicConfig = serde_norway::from_str(
        "http:\n  routers:\n    wild:\n      rule: \"Host(`a.wild.wharf.test`)\"\n      service: s\n      entryPoints: [web]\n      tls:\n        certResolver: le\n        domains:\n          - main: \"*.wild.wharf.test\"\n            sans: [\"wild.wharf.test\"]\n",
    )
    .expect("wild router");
    cfg.http.routers.extend(wild.http.routers);
    h.file.publish(cfg);
    poll("rfc.wharf.test issued", &h, |inv| {
        valid(inv, "rfc.wharf.test")
    })
    .await;
    let pem = verify_published(&h, "rfc.wharf.test", &root);
    wait_served(h.web, "rfc.wharf.test", &root, &pem).await;
    poll("*.wild.wharf.test issued", &h, |inv| {
        valid(inv, "*.wild.wharf.test")
    })
    .await;
    let pem = verify_published(&h, "a.wild.wharf.test", &root);
    assert_eq!(verify_published(&h, "wild.wharf.test", &root), pem);
    wait_served(h.web, "a.wild.wharf.test", &root, &pem).await;
    // `_acme-challenge.alias` is a CNAME: the record went to its target (lego's CNAME support).
    poll("alias.wharf.test issued", &h, |inv| {
        valid(inv, "alias.wharf.test")
    })
    .await;
    let pem = verify_published(&h, "alias.wharf.test", &root);
    wait_served(h.web, "alias.wharf.test", &root, &pem).await;
    assert!(knot_txt(&knot, "_acme-challenge.target.wharf.test.")
        .await
        .is_empty());
    // Cleanup removed every challenge record from the zone.
    assert!(knot_txt(&knot, "_acme-challenge.rfc.wharf.test.")
        .await
        .is_empty());
    assert!(knot_txt(&knot, "_acme-challenge.wild.wharf.test.")
        .await
        .is_empty());
    drop(h);

    // A wrong secret: knot answers NOTAUTH/BADSIG; no order reaches the CA's validation.
    let storage2 = tmp.path().join("acme-bad.json");
    let resolvers = rfc2136_resolver(&storage2, &pebble, &knot);
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let options = AcmeOptions {
        lego_env: rfc2136_env(&knot, &wrong),
        ..Default::default()
    };
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let h = harness(web, &resolvers, false, options).await;
    h.file.publish(routes(be, &["bad.wharf.test"]));
    let failed = poll("TSIG refusal visible", &h, |inv| {
        inv.iter()
            .find(|c| c.domains == ["bad.wharf.test"] && c.state == CertState::BackingOff)
            .cloned()
    })
    .await;
    let err = failed.last_error.unwrap_or_default();
    assert!(err.contains("NOTAUTH") && err.contains("BADSIG"), "{err}");
    assert!(knot_txt(&knot, "_acme-challenge.bad.wharf.test.")
        .await
        .is_empty());
}

/// A private CA as lego reaches one: pebble requires external account binding, its TLS
/// certificate names only `pebble.internal` (reached at 127.0.0.1, so `caServerName` is what
/// verifies it), and the trust comes from `LEGO_CA_CERTIFICATES` instead of `caCertificates`.
/// A wrong EAB MAC key is refused, with the CA's reason in the inventory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_with_eab_ca_server_name_and_lego_ca_certificates() {
    if !have_pebble() {
        return;
    }
    use base64::Engine;
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let web_port = web.local_addr().expect("addr").port();
    let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let pebble = start_pebble_with(
        tmp.path(),
        web_port,
        free_port(),
        0,
        PebbleOpts {
            eab: Some(("kid-1".into(), mac.clone())),
            server_name: Some("pebble.internal".into()),
            ..Default::default()
        },
    )
    .await;
    let root = pebble.root().await;
    let with = |storage: &Path, hmac: &str| {
        let mut r = resolver(storage, &pebble.dir_url, &pebble.tls_cert, false);
        if let Some(a) = r.get_mut("le").and_then(|r| r.acme.as_mut()) {
            a.ca_certificates.clear();
            a.ca_server_name = "pebble.internal".into();
            a.eab = Some(wharf::config::Eab {
                kid: "kid-1".into(),
                hmac_encoded: hmac.into(),
            });
        }
        r
    };
    let env = || {
        let mut vars = BTreeMap::new();
        vars.insert(
            "LEGO_CA_CERTIFICATES".to_string(),
            pebble.tls_cert.display().to_string(),
        );
        wharf::acme::LegoEnv::fixed(vars)
    };
    let be = backend().await;
    let h = harness(
        web,
        &with(&tmp.path().join("acme.json"), &mac),
        false,
        AcmeOptions {
            lego_env: env(),
            ..Default::default()
        },
    )
    .await;
    h.file.publish(routes(be, &["eab.test"]));
    poll("eab.test issued", &h, |inv| valid(inv, "eab.test")).await;
    let pem = verify_published(&h, "eab.test", &root);
    wait_served(h.web, "eab.test", &root, &pem).await;
    drop(h);

    let wrong = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([9u8; 32]);
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let h = harness(
        web,
        &with(&tmp.path().join("acme-wrong.json"), &wrong),
        false,
        AcmeOptions {
            lego_env: env(),
            ..Default::default()
        },
    )
    .await;
    h.file.publish(routes(be, &["eab-wrong.test"]));
    let failed = poll("EAB refusal visible", &h, |inv| {
        inv.iter()
            .find(|c| c.domains == ["eab-wrong.test"] && c.state == CertState::BackingOff)
            .cloned()
    })
    .await;
    let err = failed.last_error.unwrap_or_default();
    assert!(err.contains("account registration"), "{err}");
}

/// Accepts any server certificate: the tests below compare the leaf itself.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The leaf wharf presents for `sni` (`None`: no SNI at all).
async fn served_leaf(
    addr: SocketAddr,
    sni: Option<&str>,
) -> Option<rustls::pki_types::CertificateDer<'static>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    // An IP address as the server name makes rustls send no SNI.
    let name = match sni {
        Some(s) => rustls::pki_types::ServerName::try_from(s.to_string()).ok()?,
        None => rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .ok()?;
    Some(
        tls.get_ref()
            .1
            .peer_certificates()?
            .first()?
            .clone()
            .into_owned(),
    )
}

/// `tls.stores.default.defaultGeneratedCert`: the resolver obtains a certificate for the
/// store's domain though no router names it, and it becomes the default certificate (unknown
/// SNI, no SNI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_generated_cert_is_obtained_and_served_as_default() {
    if !have_pebble() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind web");
    let web_port = web.local_addr().expect("addr").port();
    let pebble = start_pebble(tmp.path(), web_port, free_port(), 0).await;
    let root = pebble.root().await;
    let resolvers = resolver(
        &tmp.path().join("acme.json"),
        &pebble.dir_url,
        &pebble.tls_cert,
        false,
    );
    let be = backend().await;
    let h = harness(web, &resolvers, false, AcmeOptions::default()).await;
    let mut cfg = routes(be, &[]);
    let stores: DynamicConfig = serde_norway::from_str(
        "tls:\n  stores:\n    default:\n      defaultGeneratedCert:\n        resolver: le\n        domain:\n          main: gen.test\n          sans: [www.gen.test]\n",
    )
    .expect("stores");
    cfg.tls.stores = stores.tls.stores;
    h.file.publish(cfg);
    let got = poll("gen.test issued", &h, |inv| valid(inv, "gen.test")).await;
    assert_eq!(got.domains, vec!["gen.test", "www.gen.test"]);
    assert!(got.routers.is_empty(), "{got:?}");
    let pem = verify_published(&h, "www.gen.test", &root);
    let want = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .expect("leaf")
        .expect("pem")
        .into_owned();
    let start = Instant::now();
    loop {
        let unknown = served_leaf(h.web, Some("unknown.test")).await;
        let none = served_leaf(h.web, None).await;
        if unknown.as_ref() == Some(&want) && none.as_ref() == Some(&want) {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the generated default certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One HTTP/1.1 exchange (`Connection: close`): status and body.
async fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_string())
}

/// The binary with ACME, the API and metrics: `/api/certificates` shows the issued certificate
/// with its resolver, routers, issuer and next renewal; `traefik_tls_certs_not_after` carries
/// it; a forced renewal (`api.allowCertificateRenewal`) is refused cross-site or without a
/// JSON body type, and otherwise re-issues the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_inventory_metrics_and_forced_renewal() {
    if !have_pebble() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let web_port = free_port();
    let api_port = free_port();
    let pebble = start_pebble(tmp.path(), web_port, free_port(), 0).await;
    let root = pebble.root().await;
    let be = backend().await;
    let dynamic = write_resolver_route(tmp.path(), "inv.test", be);
    let storage = tmp.path().join("acme.json");
    let static_cfg = tmp.path().join("wharf.yml");
    std::fs::write(
        &static_cfg,
        format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:{web_port}\"\n  traefik:\n    address: \"127.0.0.1:{api_port}\"\napi:\n  insecure: true\n  allowCertificateRenewal: true\nmetrics:\n  prometheus: {{}}\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    filename: \"{}\"\ncertificatesResolvers:\n  le:\n    acme:\n      email: ops@example.com\n      storage: \"{}\"\n      caServer: \"{}\"\n      caCertificates: [\"{}\"]\n      httpChallenge:\n        entryPoint: web\n",
            dynamic.display(),
            storage.display(),
            pebble.dir_url,
            pebble.tls_cert.display()
        ),
    )
    .expect("static");
    let _wharf = spawn_wharf(&static_cfg);
    let web = SocketAddr::from(([127, 0, 0, 1], web_port));
    let api = SocketAddr::from(([127, 0, 0, 1], api_port));
    wait_port(web).await;
    wait_port(api).await;
    let get_api = |path: &'static str| async move {
        exchange(
            api,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{api_port}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await
    };
    // Issued and listed with the ACME facts.
    let start = Instant::now();
    let cert = loop {
        let (status, body) = get_api("/api/certificates").await;
        assert_eq!(status, 200, "{body}");
        let list: serde_json::Value = serde_json::from_str(&body).expect("json");
        if let Some(c) = list.as_array().and_then(|l| {
            l.iter()
                .find(|c| c["resolver"] == "le" && c["serialNumber"].is_string())
                .cloned()
        }) {
            break c;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no issued certificate listed: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(cert["domains"], serde_json::json!(["inv.test"]));
    assert_eq!(cert["routers"], serde_json::json!(["app@file"]));
    assert_eq!(cert["provider"], "le.acme");
    assert_eq!(cert["status"], "enabled", "{cert}");
    assert_eq!(cert["renewable"], true);
    assert!(
        cert["issuer"]
            .as_str()
            .is_some_and(|i| i.contains("Pebble")),
        "{cert}"
    );
    assert!(cert["notAfter"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(cert["nextRenewal"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(cert["lastError"].is_null());
    let id = cert["id"].as_str().expect("id").to_string();
    let serial = cert["serialNumber"].as_str().expect("serial").to_string();
    // The same certificate in the metrics, with Traefik's labels.
    let (_, metrics) = get_api("/metrics").await;
    let line = format!(
        "traefik_tls_certs_not_after{{cn=\"inv.test\",sans=\"inv.test\",serial=\"{serial}\"}} "
    );
    assert!(metrics.contains(&line), "{line} in\n{metrics}");

    // Forced renewal: refused cross-site, refused as a simple (form-like) request.
    let post = |extra: &str| {
        format!(
            "POST /api/certificates/{}/renew HTTP/1.1\r\nHost: 127.0.0.1:{api_port}\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            id.replace(',', "%2C")
        )
    };
    let (s, body) = exchange(
        api,
        &post("Content-Type: application/json\r\nSec-Fetch-Site: cross-site\r\n"),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = exchange(
        api,
        &post("Content-Type: application/json\r\nOrigin: http://evil.test\r\n"),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = exchange(api, &post("Content-Type: text/plain\r\n")).await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = exchange(
        api,
        "POST /api/certificates/le:nope.test/renew HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = exchange(
        api,
        &post(&format!(
            "Content-Type: application/json\r\nOrigin: http://127.0.0.1:{api_port}\r\nSec-Fetch-Site: same-origin\r\n"
        )),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    // The resolver re-orders: a new serial shows in the inventory and is served.
    let start = Instant::now();
    loop {
        let (_, body) = get_api("/api/certificates").await;
        let list: serde_json::Value = serde_json::from_str(&body).expect("json");
        let renewed = list.as_array().and_then(|l| {
            l.iter().find(|c| {
                c["resolver"] == "le"
                    && c["serialNumber"].is_string()
                    && c["serialNumber"] != serial.as_str()
            })
        });
        if renewed.is_some() {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "not renewed: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = Instant::now();
    loop {
        if let Some((leaf, body)) = tls_get(web, "inv.test", &root).await {
            assert_eq!(body, "backend-ok");
            let (_, c) = x509_parser::parse_x509_certificate(&leaf).expect("leaf");
            if c.tbs_certificate.serial.to_string() != serial {
                break;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "renewed certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
