//! Middlewares that need TLS, end to end on real sockets: passTLSClientCert over a mutual-TLS
//! entry point (the backend reports the headers it received) and forwardAuth calling an HTTPS
//! auth server that requires a client certificate (`forwardAuth.tls`). Certificates are made by
//! rcgen in the test; the compile loop and the proxy are the real ones.

#[path = "common/inproc.rs"]
mod inproc;
#[path = "common/serve.rs"]
mod serve;
#[path = "common/tls.rs"]
mod tls_common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use inproc::{compile_loop, exchange, Wharf};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType,
    SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serve::serve_http1;
use tls_common::{write, AcceptAny};
use tokio::net::{TcpListener, TcpStream};
use wharf::compile::CompileSettings;
use wharf::proxy::{self, CancellationToken, EntryPointSettings, PreRouteHooks};
use wharf_providers::DynamicConfig;

const DEADLINE: Duration = Duration::from_secs(10);

// ---------- certificates ----------

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

fn ca(name: &str, parent: Option<&Ca>) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name
        .push(DnType::OrganizationName, "Wharf Test PKI");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = match parent {
        None => p.self_signed(&key).unwrap(),
        Some(parent) => p.signed_by(&key, &parent.issuer).unwrap(),
    };
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf signed by `ca` with DNS and IP names: (cert PEM, key PEM, DER).
fn leaf(ca: &Ca, dns: &[&str], ips: &[&str]) -> (String, String, CertificateDer<'static>) {
    let mut p =
        CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    for ip in ips {
        p.subject_alt_names
            .push(SanType::IpAddress(ip.parse().unwrap()));
    }
    p.distinguished_name
        .push(DnType::CommonName, dns.first().copied().unwrap_or("leaf"));
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().clone())
}

/// The client certificate of the passTLSClientCert test: a full subject, several kinds of SANs,
/// fixed serial and dates.
fn client_leaf(ca: &Ca) -> (String, String, CertificateDer<'static>) {
    let mut p = CertificateParams::new(vec!["client.test".to_string()]).unwrap();
    let dn = &mut p.distinguished_name;
    dn.push(DnType::CountryName, "FR");
    dn.push(DnType::OrganizationName, "Acme, Inc.");
    dn.push(DnType::OrganizationalUnitName, "Edge");
    dn.push(DnType::CommonName, "alice");
    p.subject_alt_names.extend([
        SanType::Rfc822Name("alice@client.test".try_into().unwrap()),
        SanType::IpAddress("10.1.2.3".parse().unwrap()),
        SanType::URI("spiffe://client.test/alice".try_into().unwrap()),
    ]);
    p.serial_number = Some(SerialNumber::from_slice(&[0x12, 0x34, 0x56]));
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2036, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().clone())
}

// ---------- backend and wharf ----------

/// Answers 200 with a JSON object of the request headers it received (lower-case names).
async fn backend() -> SocketAddr {
    serve_http1(|req: http::Request<hyper::body::Incoming>| async move {
        let h: BTreeMap<String, String> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = serde_json::to_vec(&h).unwrap();
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from(body),
        )))
    })
    .await
}

/// Starts `web` and `websecure` with `yaml` (`{backend}` replaced) through the compile loop.
async fn start(yaml: &str) -> Wharf {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let be = backend().await;
    let yaml = yaml.replace("{backend}", &format!("http://{be}"));
    let view: DynamicConfig = serde_norway::from_str(&yaml).unwrap();
    let web_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sec_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = web_l.local_addr().unwrap();
    let websecure = sec_l.local_addr().unwrap();
    let ctl = compile_loop(
        view,
        CompileSettings {
            entry_points: vec!["web".into(), "websecure".into()],
            ..Default::default()
        },
        DEADLINE,
    )
    .await;
    let stop = CancellationToken::new();
    for (l, name, addr) in [(web_l, "web", web), (sec_l, "websecure", websecure)] {
        tokio::spawn(proxy::serve(
            l,
            Arc::new(EntryPointSettings::new(name, addr)),
            ctl.store.cell(),
            Arc::new(PreRouteHooks::new()),
            stop.clone(),
        ));
    }
    Wharf {
        web,
        websecure,
        ctl,
        stop,
    }
}

// ---------- clients ----------

fn key_der(pem: &str) -> PrivateKeyDer<'static> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .unwrap()
        .unwrap()
}

/// One HTTP/1.1 request over `s`; returns (status, body).
async fn http1(
    s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    host: &str,
    extra: &str,
) -> (u16, String) {
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    let (status, _, body) = exchange(s, &req, DEADLINE).await;
    (status, body)
}

async fn tls_get(
    addr: SocketAddr,
    host: &str,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    extra: &str,
) -> (u16, String) {
    let b = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(false)));
    let config = match client {
        Some((chain, key)) => b.with_client_auth_cert(chain, key).unwrap(),
        None => b.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr).await.unwrap();
    let s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host.to_string()).unwrap(), tcp)
        .await
        .unwrap();
    http1(s, host, extra).await
}

fn headers_of(body: &str) -> BTreeMap<String, String> {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("backend JSON ({e}): {body}"))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn b64(d: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

// ---------- tests ----------

#[tokio::test]
async fn pass_tls_client_cert_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = ca("server CA", None);
    let (sc, sk, _) = leaf(&server_ca, &["a.example.com"], &[]);
    let root = ca("clients root", None);
    let intermediate = ca("clients intermediate", Some(&root));
    let (_, ck, cder) = client_leaf(&intermediate);
    let yaml = format!(
        r#"
http:
  routers:
    r:
      rule: Host(`a.example.com`)
      service: be
      middlewares: [pass]
      tls: {{}}
  middlewares:
    pass:
      passTLSClientCert:
        pem: true
        info:
          notBefore: true
          notAfter: true
          sans: true
          serialNumber: true
          subject: {{country: true, organization: true, organizationalUnit: true, commonName: true}}
          issuer: {{organization: true, commonName: true}}
  services:
    be:
      loadBalancer:
        servers:
          - url: "{{backend}}"
tls:
  options:
    default:
      clientAuth:
        caFiles: [{ca}]
        clientAuthType: VerifyClientCertIfGiven
  certificates:
    - certFile: {sc}
      keyFile: {sk}
"#,
        ca = write(dir.path(), "root.pem", &root.pem),
        sc = write(dir.path(), "a.crt", &sc),
        sk = write(dir.path(), "a.key", &sk),
    );
    let w = start(&yaml).await;

    // The client sends its leaf and the intermediate; wharf trusts the root.
    let chain = vec![cder.clone(), intermediate.der.clone()];
    for round in 0..2 {
        // Twice on fresh connections: the PEM value is cached per connection, not shared.
        let (status, body) = tls_get(
            w.websecure,
            "a.example.com",
            Some((chain.clone(), key_der(&ck))),
            "X-Forwarded-Tls-Client-Cert: forged\r\n",
        )
        .await;
        assert_eq!(status, 200, "round {round}: {body}");
        let h = headers_of(&body);
        assert_eq!(
            h["x-forwarded-tls-client-cert"],
            format!("{},{}", b64(&cder), b64(&intermediate.der))
        );
        let leaf_info = concat!(
            r#"Subject="C=FR,O=Acme, Inc.,OU=Edge,CN=alice";"#,
            r#"Issuer="O=Wharf Test PKI,CN=clients intermediate";"#,
            r#"SerialNumber="1193046";NB="1704067200";NA="2082758400";"#,
            r#"SAN="client.test,alice@client.test,10.1.2.3,spiffe://client.test/alice""#
        );
        let info = &h["x-forwarded-tls-client-cert-info"];
        assert!(
            info.starts_with(&query_escape(leaf_info)),
            "round {round}: {info}"
        );
        // The intermediate follows, after an escaped comma, with its own fields.
        let rest = &info[query_escape(leaf_info).len()..];
        assert!(
            rest.starts_with(&query_escape(
                r#",Subject="O=Wharf Test PKI,CN=clients intermediate";Issuer="O=Wharf Test PKI,CN=clients root";SerialNumber=""#
            )),
            "{rest}"
        );
    }

    // Without a client certificate: no header, and the client's forged copy is removed.
    let (status, body) = tls_get(
        w.websecure,
        "a.example.com",
        None,
        "X-Forwarded-Tls-Client-Cert: forged\r\nX-Forwarded-Tls-Client-Cert-Info: forged\r\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let h = headers_of(&body);
    assert!(!h.contains_key("x-forwarded-tls-client-cert"), "{h:?}");
    assert!(!h.contains_key("x-forwarded-tls-client-cert-info"), "{h:?}");
}

/// An HTTPS auth server that requires a client certificate from `client_ca`; it answers 200
/// with `X-Auth-User: alice` and counts the calls it served.
async fn auth_server(server_ca: &Ca, client_ca: &Ca) -> (SocketAddr, Arc<AtomicUsize>) {
    let (sc, sk, _) = leaf(server_ca, &["auth.test"], &["127.0.0.1"]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(client_ca.der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut sc.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key_der(&sk))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                // A client without an acceptable certificate fails here.
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |_req: http::Request<hyper::body::Incoming>| {
                        count.fetch_add(1, Ordering::SeqCst);
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .header("x-auth-user", "alice")
                                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, served)
}

#[tokio::test]
async fn forward_auth_over_https_with_a_client_certificate() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let auth_ca = ca("auth server CA", None);
    let client_ca = ca("auth clients CA", None);
    let other_ca = ca("unrelated CA", None);
    let (auth, served) = auth_server(&auth_ca, &client_ca).await;
    let (cc, ck, _) = leaf(&client_ca, &["wharf.client"], &[]);
    let ca_file = write(dir.path(), "auth-ca.pem", &auth_ca.pem);
    let other_file = write(dir.path(), "other-ca.pem", &other_ca.pem);
    let cert_file = write(dir.path(), "client.crt", &cc);
    let key_file = write(dir.path(), "client.key", &ck);
    let mw = |name: &str, tls: &str| {
        format!(
            "    {name}:\n      forwardAuth:\n        address: https://{auth}/check\n        authResponseHeaders: [X-Auth-User]\n        tls: {tls}\n"
        )
    };
    let mut yaml = String::from("http:\n  routers:\n");
    let cases = [
        // name, tls section, inline-PEM variant of the CA?
        ("good", format!("{{ca: {ca_file}, cert: {cert_file}, key: {key_file}}}")),
        ("nocert", format!("{{ca: {ca_file}}}")),
        ("wrongca", format!("{{ca: {other_file}, cert: {cert_file}, key: {key_file}}}")),
        ("insecure", format!("{{insecureSkipVerify: true, cert: {cert_file}, key: {key_file}, caOptional: true}}")),
        ("halfpair", format!("{{ca: {ca_file}, cert: {cert_file}}}")),
        ("missingca", format!("{{ca: {}/nope.pem}}", dir.path().display())),
    ];
    for (name, _) in &cases {
        yaml.push_str(&format!(
            "    {name}:\n      rule: Host(`{name}.test`)\n      service: be\n      middlewares: [{name}]\n"
        ));
    }
    yaml.push_str("  middlewares:\n");
    for (name, tls) in &cases {
        yaml.push_str(&mw(name, tls));
    }
    yaml.push_str("  services:\n    be:\n      loadBalancer:\n        servers:\n          - url: \"{backend}\"\n");
    let w = start(&yaml).await;

    // Verified server, client certificate presented: the auth answer's header reaches the backend.
    let tcp = TcpStream::connect(w.web).await.unwrap();
    let (status, body) = http1(tcp, "good.test", "X-Auth-User: mallory\r\n").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers_of(&body)["x-auth-user"], "alice");
    let after_good = served.load(Ordering::SeqCst);
    assert_eq!(after_good, 1);

    // No client certificate: the auth server refuses the handshake → 500, backend not reached.
    let tcp = TcpStream::connect(w.web).await.unwrap();
    assert_eq!(http1(tcp, "nocert.test", "").await.0, 500);
    // Server certificate not from the configured CA → 500.
    let tcp = TcpStream::connect(w.web).await.unwrap();
    assert_eq!(http1(tcp, "wrongca.test", "").await.0, 500);
    assert_eq!(served.load(Ordering::SeqCst), after_good);
    // insecureSkipVerify (no CA) with the client certificate: accepted.
    let tcp = TcpStream::connect(w.web).await.unwrap();
    let (status, body) = http1(tcp, "insecure.test", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers_of(&body)["x-auth-user"], "alice");

    // Broken settings disable the middleware (and its router) with a precise message.
    let snap = w.ctl.store.load();
    let err = |n: &str| {
        snap.report.middlewares[&format!("{n}@file")]
            .errors
            .join("; ")
    };
    assert!(
        err("halfpair").contains("both TLS cert and key must be defined"),
        "{}",
        err("halfpair")
    );
    assert!(
        err("missingca").contains("nope.pem"),
        "{}",
        err("missingca")
    );
    assert!(err("good").is_empty(), "{}", err("good"));
    let tcp = TcpStream::connect(w.web).await.unwrap();
    assert_eq!(http1(tcp, "halfpair.test", "").await.0, 404);
}
