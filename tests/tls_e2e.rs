//! TLS termination end to end: real sockets, rcgen CAs and certificates, a tokio-rustls
//! client; the compile loop and the proxy's accept path are the real ones.

#[path = "common/inproc.rs"]
mod inproc;
#[path = "common/serve.rs"]
mod serve;
#[path = "common/tls.rs"]
mod tls_common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use inproc::{compile_loop, exchange, Wharf};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serve::serve_http1;
use tls_common::{write, AcceptAny};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wharf::compile::CompileSettings;
use wharf::proxy::{
    self, CancellationToken, EntryPointRedirect, EntryPointSettings, PreRouteHooks,
};
use wharf_providers::{DynamicConfig, RouterTls};

const DEADLINE: Duration = Duration::from_secs(10);

// ---------- certificates ----------

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf for `names` signed by `ca`: (cert PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str], days: (i64, i64)) -> (String, String) {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    let day = |n: i64| {
        let now = SystemTime::now();
        let d = Duration::from_secs(n.unsigned_abs() * 86_400);
        if n >= 0 {
            now + d
        } else {
            now - d
        }
    };
    p.not_before = day(days.0).into();
    p.not_after = day(days.1).into();
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

// ---------- wharf ----------

async fn backend() -> SocketAddr {
    serve_http1(|req: http::Request<hyper::body::Incoming>| async move {
        let body = format!(
            "backend host={} proto={}",
            req.headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or(""),
            req.headers()
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
        );
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from(body),
        )))
    })
    .await
}

/// Starts `web` (plain, optionally redirecting to `websecure`) and `websecure`, with the
/// dynamic configuration `yaml` (`{backend}` replaced) through the real compile loop.
async fn start(yaml: &str, ep_tls: Option<RouterTls>, redirect: bool) -> Wharf {
    start_observed(yaml, ep_tls, redirect, None).await
}

/// [`start`] with an observer (access log, metrics) on `websecure`.
async fn start_observed(
    yaml: &str,
    ep_tls: Option<RouterTls>,
    redirect: bool,
    observe: Option<Arc<wharf::observe::EntryPointObserver>>,
) -> Wharf {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let be = backend().await;
    let yaml = yaml.replace("{backend}", &format!("http://{be}"));
    let view: DynamicConfig = serde_norway::from_str(&yaml).unwrap();
    let web_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sec_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = web_l.local_addr().unwrap();
    let websecure = sec_l.local_addr().unwrap();
    let mut entry_point_tls = BTreeMap::new();
    if let Some(t) = ep_tls {
        entry_point_tls.insert("websecure".to_string(), t);
    }
    let ctl = compile_loop(
        view,
        CompileSettings {
            entry_points: vec!["web".into(), "websecure".into()],
            entry_point_tls,
            ..Default::default()
        },
        DEADLINE,
    )
    .await;

    let stop = CancellationToken::new();
    let mut web_settings = EntryPointSettings::new("web", web);
    if redirect {
        web_settings.redirect = Some(EntryPointRedirect {
            scheme: "https".into(),
            port: Some(websecure.port()),
            permanent: true,
        });
    }
    tokio::spawn(proxy::serve(
        web_l,
        Arc::new(web_settings),
        ctl.store.cell(),
        Arc::new(PreRouteHooks::new()),
        stop.clone(),
    ));
    let mut sec_settings = EntryPointSettings::new("websecure", websecure);
    sec_settings.observe = observe;
    tokio::spawn(proxy::serve(
        sec_l,
        Arc::new(sec_settings),
        ctl.store.cell(),
        Arc::new(PreRouteHooks::new()),
        stop.clone(),
    ));
    Wharf {
        web,
        websecure,
        ctl,
        stop,
    }
}

// ---------- client ----------

#[derive(Default)]
struct ClientOpts {
    alpn: Vec<&'static [u8]>,
    tls12_only: bool,
    client_cert: Option<(String, String)>,
    lax: bool,
}

fn client_config(o: &ClientOpts) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if o.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(o.lax)));
    let mut c = match &o.client_cert {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
            let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key.as_bytes())
                .unwrap()
                .unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    c.alpn_protocols = o.alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(addr: SocketAddr, sni: Option<&str>, o: &ClientOpts) -> std::io::Result<Tls> {
    connect_with(addr, sni, client_config(o)).await
}

async fn connect_with(
    addr: SocketAddr,
    sni: Option<&str>,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr).await?;
    let name = match sni {
        Some(s) => ServerName::try_from(s.to_string()).unwrap(),
        // An IP address: rustls sends no SNI.
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let c = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(DEADLINE, c.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

/// The served leaf's DNS names, or its CN when it has none.
fn served_names(s: &Tls) -> Vec<String> {
    use x509_parser::prelude::*;
    let (_, conn) = s.get_ref();
    let der = conn.peer_certificates().unwrap()[0].clone();
    let (_, cert) = X509Certificate::from_der(der.as_ref()).unwrap();
    let mut out: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                out.push(d.to_string());
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        out.push(format!("CN={}", cn.as_str().unwrap()));
    }
    out
}

async fn http1(
    s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    host: &str,
    path: &str,
) -> (u16, String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    exchange(s, &req, DEADLINE).await
}

// ---------- tests ----------

struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
}

fn pki() -> Pki {
    Pki {
        dir: tempfile::tempdir().unwrap(),
        ca: ca("wharf test CA"),
    }
}

impl Pki {
    fn pair(&self, file: &str, names: &[&str]) -> (String, String) {
        let (c, k) = leaf(&self.ca, names, (-1, 30));
        (
            write(self.dir.path(), &format!("{file}.crt"), &c),
            write(self.dir.path(), &format!("{file}.key"), &k),
        )
    }
}

const ROUTERS: &str = r#"
http:
  routers:
    secure:
      rule: Host(`a.example.com`) || Host(`b.example.com`)
      service: be
      tls: {}
    plain:
      rule: Host(`plain.test`)
      service: be
  services:
    be:
      loadBalancer:
        servers:
          - url: "{backend}"
"#;

#[tokio::test]
async fn sni_exact_wildcard_and_generated_default() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let (wc, wk) = p.pair("w", &["*.example.com"]);
    let yaml = format!(
        "{ROUTERS}tls:\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n    - certFile: {wc}\n      keyFile: {wk}\n"
    );
    let w = start(&yaml, None, false).await;
    let o = ClientOpts::default();

    let s = connect(w.websecure, Some("a.example.com"), &o)
        .await
        .unwrap();
    assert_eq!(served_names(&s), vec!["a.example.com", "CN=a.example.com"]);
    let (status, _, body) = http1(s, "a.example.com", "/").await;
    assert_eq!(status, 200);
    assert_eq!(body, "backend host=a.example.com proto=https");

    let s = connect(w.websecure, Some("b.example.com"), &o)
        .await
        .unwrap();
    assert_eq!(served_names(&s)[0], "*.example.com");
    assert_eq!(http1(s, "b.example.com", "/").await.0, 200);

    // One label deep only: x.y.example.com gets the default (generated) certificate.
    let s = connect(w.websecure, Some("x.y.example.com"), &o)
        .await
        .unwrap();
    assert!(served_names(&s).contains(&"CN=TRAEFIK DEFAULT CERT".to_string()));
    // No SNI at all: the default certificate too.
    let s = connect(w.websecure, None, &o).await.unwrap();
    assert!(served_names(&s).contains(&"CN=TRAEFIK DEFAULT CERT".to_string()));

    // A router without `tls` does not answer on TLS; a TLS router does not answer plain HTTP.
    let s = connect(w.websecure, Some("plain.test"), &o).await.unwrap();
    assert_eq!(http1(s, "plain.test", "/").await.0, 404);
    let s = TcpStream::connect(w.websecure).await.unwrap();
    assert_eq!(http1(s, "a.example.com", "/").await.0, 404);
    let s = TcpStream::connect(w.web).await.unwrap();
    let (status, _, body) = http1(s, "plain.test", "/").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "backend host=plain.test proto=http")
    );
    // TLS is sniffed on every entry point (as Traefik): `web` terminates TLS as well.
    let s = connect(w.web, Some("a.example.com"), &o).await.unwrap();
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);

    // Inventory: file certificates with their routers, and the generated one.
    let snap = w.ctl.store.load();
    let inv = &snap.tls.certificates;
    assert_eq!(inv.len(), 3, "{inv:#?}");
    assert_eq!(inv[0].domains, vec!["a.example.com"]);
    assert_eq!(inv[0].routers, vec!["secure@file"]);
    assert_eq!(inv[0].issuer, "CN=wharf test CA");
    assert_eq!(inv[0].status, "enabled");
    assert!(inv[0].not_after_unix > 0 && inv[0].not_after.ends_with('Z'));
    assert_eq!(inv[1].domains, vec!["*.example.com"]);
    assert_eq!(inv[1].routers, vec!["secure@file"]);
    assert_eq!(inv[2].source, wharf::tls::CertificateSource::Generated);
    let json = serde_json::to_value(inv).unwrap();
    assert_eq!(json[0]["source"], "file");
    assert_eq!(json[2]["source"], "generated");
}

#[tokio::test]
async fn default_store_certificate_for_unknown_sni() {
    let p = pki();
    let (dc, dk) = p.pair("d", &["default.example.org"]);
    let yaml = format!(
        "{ROUTERS}tls:\n  stores:\n    default:\n      defaultCertificate:\n        certFile: {dc}\n        keyFile: {dk}\n"
    );
    let w = start(&yaml, None, false).await;
    let s = connect(w.websecure, Some("unknown.test"), &ClientOpts::default())
        .await
        .unwrap();
    assert_eq!(served_names(&s)[0], "default.example.org");
    // a.example.com has no certificate of its own: the default serves it, and it routes.
    let s = connect(w.websecure, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    assert_eq!(served_names(&s)[0], "default.example.org");
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
    let snap = w.ctl.store.load();
    assert_eq!(snap.tls.certificates.len(), 1);
    assert_eq!(
        snap.tls.certificates[0].source,
        wharf::tls::CertificateSource::DefaultStore
    );
    assert_eq!(snap.tls.certificates[0].routers, vec!["secure@file"]);
}

#[tokio::test]
async fn sni_strict_refuses_unknown_and_missing_sni() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let yaml = format!(
        "{ROUTERS}tls:\n  options:\n    default:\n      sniStrict: true\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n"
    );
    let w = start(&yaml, None, false).await;
    let o = ClientOpts::default();
    let s = connect(w.websecure, Some("a.example.com"), &o)
        .await
        .unwrap();
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
    assert!(connect(w.websecure, Some("unknown.test"), &o)
        .await
        .is_err());
    assert!(connect(w.websecure, None, &o).await.is_err());
}

#[tokio::test]
async fn min_version_and_unsupported_settings_warn() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com", "old.example.com"]);
    let yaml = format!(
        r#"{routers}tls:
  options:
    default:
      minVersion: VersionTLS13
    legacy:
      minVersion: VersionTLS10
      cipherSuites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  certificates:
    - certFile: {ac}
      keyFile: {ak}
"#,
        routers = ROUTERS.replace(
            "    plain:\n",
            "    old:\n      rule: Host(`old.example.com`)\n      service: be\n      tls:\n        options: legacy\n    plain:\n"
        )
    );
    let w = start(&yaml, None, false).await;
    let tls12 = ClientOpts {
        tls12_only: true,
        ..Default::default()
    };
    // Default options: TLS 1.3 only.
    assert!(connect(w.websecure, Some("a.example.com"), &tls12)
        .await
        .is_err());
    let s = connect(w.websecure, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    assert_eq!(
        s.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    // The router's options are chosen by SNI: TLS 1.0 became 1.2, which a 1.2 client gets.
    let s = connect(w.websecure, Some("old.example.com"), &tls12)
        .await
        .unwrap();
    assert_eq!(
        s.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(http1(s, "old.example.com", "/").await.0, 200);
    let snap = w.ctl.store.load();
    let r = &snap.report.routers["old@file"];
    let all = r.errors.join("\n");
    assert!(
        all.contains("minVersion VersionTLS10 is not supported"),
        "{all}"
    );
    assert!(
        all.contains("TLS_RSA_WITH_AES_128_CBC_SHA` is not supported"),
        "{all}"
    );
    assert_ne!(r.status, wharf::compile::Status::Disabled);
}

#[tokio::test]
async fn alpn_h2_and_http11() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let yaml =
        format!("{ROUTERS}tls:\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n");
    let w = start(&yaml, None, false).await;
    let h2 = ClientOpts {
        alpn: vec![b"h2", b"http/1.1"],
        ..Default::default()
    };
    let s = connect(w.websecure, Some("a.example.com"), &h2)
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(s),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("https://a.example.com/")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"backend host=a.example.com proto=https");

    let h1 = ClientOpts {
        alpn: vec![b"http/1.1"],
        ..Default::default()
    };
    let s = connect(w.websecure, Some("a.example.com"), &h1)
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
}

#[tokio::test]
async fn mtls_accepted_and_refused() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let client_ca = ca("clients CA");
    let ca_file = write(p.dir.path(), "clients.pem", &client_ca.pem);
    let yaml = format!(
        "{ROUTERS}tls:\n  options:\n    default:\n      clientAuth:\n        caFiles: [{ca_file}]\n        clientAuthType: RequireAndVerifyClientCert\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n"
    );
    let w = start(&yaml, None, false).await;
    let good = ClientOpts {
        client_cert: Some(leaf(&client_ca, &["client.test"], (-1, 30))),
        ..Default::default()
    };
    let s = connect(w.websecure, Some("a.example.com"), &good)
        .await
        .unwrap();
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);

    // No certificate, or one from another CA: refused. (With TLS 1.3 the client learns it
    // on its first read, so a request is attempted.)
    let refused = |r: std::io::Result<Tls>| async move {
        match r {
            Err(_) => true,
            Ok(s) => http1(s, "a.example.com", "/").await.0 == 0,
        }
    };
    assert!(
        refused(connect(w.websecure, Some("a.example.com"), &ClientOpts::default()).await).await
    );
    let stranger = ca("stranger CA");
    let bad = ClientOpts {
        client_cert: Some(leaf(&stranger, &["client.test"], (-1, 30))),
        ..Default::default()
    };
    assert!(refused(connect(w.websecure, Some("a.example.com"), &bad).await).await);
}

#[tokio::test]
async fn certificate_file_change_served_without_restart() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let yaml =
        format!("{ROUTERS}tls:\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n");
    let w = start(&yaml, None, false).await;
    let o = ClientOpts::default();
    let s = connect(w.websecure, Some("a.example.com"), &o)
        .await
        .unwrap();
    let first = s.get_ref().1.peer_certificates().unwrap()[0].clone();
    drop(s);
    // Rewrite both files with a new certificate that also names c.example.com.
    let (c2, k2) = leaf(&p.ca, &["a.example.com", "c.example.com"], (-1, 60));
    std::fs::write(&ak, k2).unwrap();
    std::fs::write(&ac, c2).unwrap();
    let start_t = Instant::now();
    loop {
        let s = connect(w.websecure, Some("a.example.com"), &o)
            .await
            .unwrap();
        if s.get_ref().1.peer_certificates().unwrap()[0] != first {
            assert_eq!(served_names(&s)[..2], ["a.example.com", "c.example.com"]);
            assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
            break;
        }
        assert!(start_t.elapsed() < DEADLINE, "new certificate never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn bad_certificate_files_are_reported_and_default_serves() {
    let p = pki();
    let (good_c, good_k) = p.pair("good", &["a.example.com"]);
    let (_, other_k) = p.pair("other", &["b.example.com"]);
    let (old_c, old_k) = leaf(&p.ca, &["old.example.com"], (-60, -30));
    let old_c = write(p.dir.path(), "old.crt", &old_c);
    let old_k = write(p.dir.path(), "old.key", &old_k);
    let missing = p
        .dir
        .path()
        .join("missing.crt")
        .to_string_lossy()
        .into_owned();
    let garbage = write(p.dir.path(), "garbage.crt", "not a certificate\n");
    let yaml = format!(
        "{ROUTERS}tls:\n  certificates:\n    - certFile: {missing}\n      keyFile: {good_k}\n    - certFile: {old_c}\n      keyFile: {old_k}\n    - certFile: {good_c}\n      keyFile: {other_k}\n    - certFile: {garbage}\n      keyFile: {good_k}\n"
    );
    let w = start(&yaml, None, false).await;
    let snap = w.ctl.store.load();
    let msgs: Vec<String> = snap.report.problems.iter().map(|p| p.to_string()).collect();
    let all = msgs.join("\n");
    assert!(
        all.contains(&format!(
            "tls.certificates[0]: disabled: certFile `{missing}` cannot be read"
        )),
        "{all}"
    );
    assert!(
        all.contains("tls.certificates[1]: disabled:") && all.contains("certificate expired on"),
        "{all}"
    );
    assert!(
        all.contains("tls.certificates[2]: disabled:")
            && all.contains("does not match the certificate"),
        "{all}"
    );
    assert!(
        all.contains("tls.certificates[3]: disabled:") && all.contains("no PEM certificate found"),
        "{all}"
    );
    let inv = &snap.tls.certificates;
    assert_eq!(inv.iter().filter(|c| c.status == "disabled").count(), 4);
    assert!(inv[1].error.as_deref().unwrap_or("").contains("expired"));
    // Nothing usable for a.example.com: the generated default answers, and routing works.
    let s = connect(w.websecure, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    assert!(served_names(&s).contains(&"CN=TRAEFIK DEFAULT CERT".to_string()));
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
}

#[tokio::test]
async fn http_to_https_entry_point_redirect() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let yaml =
        format!("{ROUTERS}tls:\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n");
    let w = start(&yaml, None, true).await;
    let s = TcpStream::connect(w.web).await.unwrap();
    let (status, head, _) = http1(s, "a.example.com:8000", "/x?y=1").await;
    assert_eq!(status, 301);
    let loc = format!(
        "location: https://a.example.com:{}/x?y=1",
        w.websecure.port()
    );
    assert!(head.to_ascii_lowercase().contains(&loc), "{head}");
    // Following it lands on the TLS router.
    let s = connect(w.websecure, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    let (status, _, body) = http1(s, "a.example.com", "/x?y=1").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "backend host=a.example.com proto=https")
    );
    // TLS on the redirecting entry point is not redirected (the redirect is a plain router).
    let s = connect(w.web, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
}

#[tokio::test]
async fn entry_point_tls_default_applies_to_its_routers() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["plain.test"]);
    let yaml =
        format!("{ROUTERS}tls:\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n");
    let w = start(&yaml, Some(RouterTls::default()), false).await;
    // `plain` has no `tls`, but websecure's http.tls makes it TLS there (and plain on web).
    let s = connect(w.websecure, Some("plain.test"), &ClientOpts::default())
        .await
        .unwrap();
    assert_eq!(http1(s, "plain.test", "/").await.0, 200);
    let s = TcpStream::connect(w.websecure).await.unwrap();
    assert_eq!(http1(s, "plain.test", "/").await.0, 404);
    let s = TcpStream::connect(w.web).await.unwrap();
    assert_eq!(http1(s, "plain.test", "/").await.0, 200);
    let snap = w.ctl.store.load();
    assert_eq!(snap.tls.certificates[0].routers, vec!["plain@file"]);
}

#[tokio::test]
async fn acme_tls_alpn_challenge_hook() {
    let w = start(ROUTERS, None, false).await;
    let digest = [7u8; 32];
    wharf::tls::AlpnChallenges::global()
        .insert("challenge.example.com", &digest)
        .unwrap();
    let acme = ClientOpts {
        alpn: vec![wharf::tls::ACME_TLS_ALPN],
        lax: true,
        ..Default::default()
    };
    let s = connect(w.websecure, Some("challenge.example.com"), &acme)
        .await
        .unwrap();
    assert_eq!(
        s.get_ref().1.alpn_protocol(),
        Some(wharf::tls::ACME_TLS_ALPN)
    );
    {
        use x509_parser::prelude::*;
        let der = s.get_ref().1.peer_certificates().unwrap()[0].clone();
        let (_, cert) = X509Certificate::from_der(der.as_ref()).unwrap();
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("acmeIdentifier extension");
        assert!(ext.critical);
        assert_eq!(&ext.value[2..], &digest[..]);
    }
    // No pending challenge for that name: the handshake fails.
    assert!(connect(w.websecure, Some("other.example.com"), &acme)
        .await
        .is_err());
    wharf::tls::AlpnChallenges::global().remove("challenge.example.com");
    assert!(connect(w.websecure, Some("challenge.example.com"), &acme)
        .await
        .is_err());
}

#[tokio::test]
async fn garbage_and_silent_clients_do_not_hurt() {
    let w = start(ROUTERS, None, false).await;
    // A handshake record byte followed by junk.
    let mut s = TcpStream::connect(w.websecure).await.unwrap();
    s.write_all(b"\x16\x03\x01\x00\x05hello garbage garbage")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, s.read_to_end(&mut buf))
        .await
        .unwrap();
    // Still serving.
    let s = connect(w.websecure, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
    let _ = &w.ctl.views;
}

#[tokio::test]
async fn session_resumption_survives_a_reload() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let yaml =
        format!("{ROUTERS}tls:\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n");
    let w = start(&yaml, None, false).await;
    for tls12 in [false, true] {
        // One client config: its session cache holds the tickets between connections.
        let cfg = client_config(&ClientOpts {
            tls12_only: tls12,
            ..Default::default()
        });
        let s = connect_with(w.websecure, Some("a.example.com"), cfg.clone())
            .await
            .unwrap();
        assert_eq!(
            s.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
        assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
        // A reload: a new snapshot with new rustls configs.
        let before = w.ctl.store.generation();
        let mut gen = w.ctl.store.subscribe();
        w.ctl.views.send_modify(|_| {});
        while w.ctl.store.generation() == before {
            tokio::time::timeout(DEADLINE, gen.changed())
                .await
                .unwrap()
                .unwrap();
        }
        let s = connect_with(w.websecure, Some("a.example.com"), cfg.clone())
            .await
            .unwrap();
        assert_eq!(
            s.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed),
            "tls12 only: {tls12}"
        );
        assert_eq!(http1(s, "a.example.com", "/").await.0, 200);
    }
}

#[tokio::test]
async fn domain_fronting_around_client_auth_gets_421() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com", "m.example.com"]);
    let client_ca = ca("clients CA");
    let ca_file = write(p.dir.path(), "clients.pem", &client_ca.pem);
    let routers = ROUTERS.replace(
        "    plain:\n",
        "    mtls:\n      rule: Host(`m.example.com`)\n      service: be\n      tls:\n        options: mtls\n    plain:\n",
    );
    let yaml = format!(
        "{routers}tls:\n  options:\n    mtls:\n      clientAuth:\n        caFiles: [{ca_file}]\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n"
    );
    let w = start(&yaml, None, false).await;
    // SNI a.example.com (no client auth), Host m.example.com (mTLS): refused with 421.
    let s = connect(w.websecure, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    let (status, _, body) = http1(s, "m.example.com", "/").await;
    assert_eq!((status, body.as_str()), (421, "Misdirected Request\n"));
    // Same options on both sides: served.
    let s = connect(w.websecure, Some("a.example.com"), &ClientOpts::default())
        .await
        .unwrap();
    assert_eq!(http1(s, "b.example.com", "/").await.0, 200);
    // With a client certificate and the right SNI: served.
    let good = ClientOpts {
        client_cert: Some(leaf(&client_ca, &["client.test"], (-1, 30))),
        ..Default::default()
    };
    let s = connect(w.websecure, Some("m.example.com"), &good)
        .await
        .unwrap();
    assert_eq!(http1(s, "m.example.com", "/").await.0, 200);
}

/// The access log's TLS fields over a real mTLS connection: `RequestScheme`, `TLSVersion`,
/// `TLSCipher` (IANA names, as Go writes them), `TLSClientSubject`, and the server picked.
#[tokio::test]
async fn access_log_records_tls_facts() {
    let p = pki();
    let (ac, ak) = p.pair("a", &["a.example.com"]);
    let client_ca = ca("clients CA");
    let ca_file = write(p.dir.path(), "clients.pem", &client_ca.pem);
    let yaml = format!(
        "{ROUTERS}tls:\n  options:\n    default:\n      clientAuth:\n        caFiles: [{ca_file}]\n        clientAuthType: RequireAndVerifyClientCert\n  certificates:\n    - certFile: {ac}\n      keyFile: {ak}\n"
    );
    let log = p.dir.path().join("access.json");
    let cfg: wharf::config::StaticConfig = serde_json::from_value(serde_json::json!({
        "accessLog": {"filePath": log.display().to_string(), "format": "json"}
    }))
    .unwrap();
    let obs = wharf::observe::Observability::from_config(&cfg).unwrap();
    let observer = obs.for_entry_point(&cfg, "websecure").map(Arc::new);
    assert!(observer.is_some());
    let w = start_observed(&yaml, None, false, observer).await;
    for (tls12_only, version) in [(false, "1.3"), (true, "1.2")] {
        let client = ClientOpts {
            client_cert: Some(leaf(&client_ca, &["client.test"], (-1, 30))),
            tls12_only,
            ..Default::default()
        };
        let path = format!("/tls-{version}");
        let s = connect(w.websecure, Some("a.example.com"), &client)
            .await
            .unwrap();
        assert_eq!(http1(s, "a.example.com", &path).await.0, 200);
        let start = Instant::now();
        let line: serde_json::Value = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(l) = text.lines().find(|l| l.contains(&path)) {
                break serde_json::from_str(l).unwrap();
            }
            assert!(start.elapsed() < DEADLINE, "no access-log line for {path}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(line["RequestScheme"], "https", "{line}");
        assert_eq!(line["TLSVersion"], version, "{line}");
        let cipher = line["TLSCipher"].as_str().unwrap_or_default();
        if version == "1.3" {
            assert!(
                [
                    "TLS_AES_128_GCM_SHA256",
                    "TLS_AES_256_GCM_SHA384",
                    "TLS_CHACHA20_POLY1305_SHA256"
                ]
                .contains(&cipher),
                "{line}"
            );
        } else {
            assert!(cipher.starts_with("TLS_ECDHE_"), "{line}");
        }
        assert_eq!(line["TLSClientSubject"], "CN=client.test", "{line}");
        assert_eq!(line["RouterName"], "secure@file");
        assert!(
            line["ServiceURL"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://127.0.0.1:")),
            "{line}"
        );
    }
}
