//! The ACME client's HTTP side and key material: trust for the CA (`caCertificates`,
//! `LEGO_CA_CERTIFICATES`, `caSystemCertPool`, `caServerName`, as Traefik/lego read them), and
//! certificate keys of Traefik's `keyType`s (aws-lc-rs generates RSA too).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::dns::LegoEnv;
use crate::config::Acme;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("caCertificates: {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("caServerName `{0}` is not a valid server name")]
    ServerName(String),
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// The CA files to trust: `caCertificates`, else lego's `LEGO_CA_CERTIFICATES` (paths separated
/// by `,` or the OS path-list separator `:`).
pub fn ca_files(acme: &Acme, env: &LegoEnv) -> Vec<String> {
    if !acme.ca_certificates.is_empty() {
        return acme.ca_certificates.clone();
    }
    env.get("LEGO_CA_CERTIFICATES")
        .ok()
        .flatten()
        .map(|v| {
            v.split([',', ':'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn system_cert_pool(acme: &Acme, env: &LegoEnv) -> bool {
    acme.ca_system_cert_pool
        || env
            .get("LEGO_CA_SYSTEM_CERT_POOL")
            .ok()
            .flatten()
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true"))
}

fn add_system_roots(roots: &mut RootCertStore) {
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
}

/// The roots trusted for the CA: the configured files (plus the system pool when
/// `caSystemCertPool`), or the system pool alone when no file is configured.
pub fn roots(acme: &Acme, env: &LegoEnv) -> Result<RootCertStore, ClientError> {
    let files = ca_files(acme, env);
    let mut roots = RootCertStore::empty();
    if files.is_empty() || system_cert_pool(acme, env) {
        add_system_roots(&mut roots);
    }
    for path in files {
        let pem = std::fs::read(&path).map_err(|e| ClientError::CaFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut n = 0;
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            let c = c.map_err(|e| ClientError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            roots.add(c).map_err(|e| ClientError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(ClientError::CaFile {
                path,
                reason: "no PEM certificate found".into(),
            });
        }
    }
    Ok(roots)
}

/// Verifies the CA's certificate against `caServerName` instead of the URL's host.
#[derive(Debug)]
struct FixedName {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

type Inner = Client<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// instant-acme's HTTP client with wharf's trust settings and timeouts.
#[derive(Clone)]
pub struct AcmeHttp {
    client: Inner,
    timeout: Duration,
}

impl AcmeHttp {
    /// `env`: where lego's `LEGO_CA_CERTIFICATES` / `LEGO_CA_SYSTEM_CERT_POOL` are read.
    pub fn new(acme: &Acme, env: &LegoEnv) -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = Arc::new(roots(acme, env)?);
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let tls = if acme.ca_server_name.is_empty() {
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            let name = ServerName::try_from(acme.ca_server_name.clone())
                .map_err(|_| ClientError::ServerName(acme.ca_server_name.clone()))?;
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(FixedName { inner, name }))
                .with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let header_timeout = acme.client_response_header_timeout.get();
        if !header_timeout.is_zero() {
            http.set_connect_timeout(Some(header_timeout));
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let timeout = Some(acme.client_timeout.get())
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(120));
        Ok(AcmeHttp { client, timeout })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let fut = self.client.request(req);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(Ok(rsp)) => Ok(BytesResponse::from(rsp)),
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(e))),
                Err(_) => Err(instant_acme::Error::Str("request to the CA timed out")),
            }
        })
    }
}

/// Traefik's certificate `keyType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Ec256,
    Ec384,
    Rsa2048,
    Rsa4096,
}

impl KeyType {
    /// Parses Traefik's names; unknown or empty → RSA4096 (Traefik's fallback). RSA8192 cannot be
    /// generated by aws-lc-rs and falls back to RSA4096 with the returned warning.
    pub fn parse(s: &str) -> (KeyType, Option<String>) {
        match s {
            "EC256" => (KeyType::Ec256, None),
            "EC384" => (KeyType::Ec384, None),
            "RSA2048" => (KeyType::Rsa2048, None),
            "RSA4096" | "" => (KeyType::Rsa4096, None),
            other => (
                KeyType::Rsa4096,
                Some(format!("keyType `{other}` is not supported; using RSA4096")),
            ),
        }
    }

    /// lego's `certcrypto.KeyType` value, as written in `acme.json`.
    pub fn lego_name(self) -> &'static str {
        match self {
            KeyType::Ec256 => "P256",
            KeyType::Ec384 => "P384",
            KeyType::Rsa2048 => "2048",
            KeyType::Rsa4096 => "4096",
        }
    }

    pub fn generate(self) -> Result<rcgen::KeyPair, rcgen::Error> {
        match self {
            KeyType::Ec256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::Ec384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Rsa2048 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
            KeyType::Rsa4096 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
        }
    }
}
