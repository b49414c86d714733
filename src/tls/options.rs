//! TLS options (`tls.options.<name>`) → a rustls `ServerConfig`. What rustls cannot honour
//! (TLS 1.0/1.1, CBC/RC4/3DES suites, P-521) is replaced by the nearest safe setting and
//! reported as a warning on the routers that use the options.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use wharf_providers::TlsOptions;

use super::certs::CertStore;
use super::TlsRuntime;
use crate::compile::FileContents;

/// One compiled `tls.options` entry.
#[derive(Debug)]
pub struct BuiltOptions {
    pub name: String,
    pub config: Arc<ServerConfig>,
    /// `sniStrict`: no default certificate for a missing or unknown SNI.
    pub sni_strict: bool,
    /// Settings replaced by safe ones; repeated on every router that uses these options.
    pub warnings: Vec<String>,
}

/// Resolves from the snapshot's certificate store.
#[derive(Debug)]
struct StoreResolver {
    store: Arc<CertStore>,
    strict: bool,
}

impl ResolvesServerCert for StoreResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store.resolve(hello.server_name(), self.strict)
    }
}

/// The TLS 1.2 suites rustls (aws-lc-rs) offers, by their Go/IANA names.
fn suite_name(s: &rustls::SupportedCipherSuite) -> String {
    format!("{:?}", s.suite())
}

fn parse_version(v: &str) -> Option<u8> {
    match v {
        "VersionTLS10" => Some(10),
        "VersionTLS11" => Some(11),
        "VersionTLS12" => Some(12),
        "VersionTLS13" => Some(13),
        _ => None,
    }
}

/// Compiles one options entry. `Err` disables the routers that use it.
pub(crate) fn build(
    name: &str,
    o: &TlsOptions,
    files: &FileContents,
    store: &Arc<CertStore>,
    rt: &TlsRuntime,
) -> Result<BuiltOptions, String> {
    let mut warnings = Vec::new();
    let base = rustls::crypto::aws_lc_rs::default_provider();

    // Versions: rustls speaks 1.2 and 1.3 only.
    let min = if o.min_version.is_empty() {
        12
    } else {
        parse_version(&o.min_version)
            .ok_or_else(|| format!("unknown minVersion `{}`", o.min_version))?
    };
    let max = if o.max_version.is_empty() {
        13
    } else {
        parse_version(&o.max_version)
            .ok_or_else(|| format!("unknown maxVersion `{}`", o.max_version))?
    };
    let mut lo = min;
    let mut hi = max;
    if lo < 12 {
        warnings.push(format!(
            "tls options `{name}`: minVersion {} is not supported (TLS 1.0 and 1.1 are unsafe); using VersionTLS12",
            o.min_version
        ));
        lo = 12;
    }
    if hi < 12 {
        warnings.push(format!(
            "tls options `{name}`: maxVersion {} is not supported; using VersionTLS12",
            o.max_version
        ));
        hi = 12;
    }
    if lo > hi {
        return Err(format!(
            "tls options `{name}`: minVersion {} is above maxVersion {}",
            o.min_version, o.max_version
        ));
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if hi >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    if lo <= 12 {
        versions.push(&rustls::version::TLS12);
    }

    // Cipher suites: Go (and Traefik) apply the list to TLS 1.2 only; TLS 1.3 keeps its suites.
    let mut suites = base.cipher_suites.clone();
    if !o.cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for want in &o.cipher_suites {
            // Go spells ChaCha20 suites with and without the `_SHA256` suffix.
            let w = want.trim();
            let found = base.cipher_suites.iter().find(|s| {
                let n = suite_name(s);
                n == w
                    || n.strip_suffix("_SHA256") == Some(w)
                    || w.strip_suffix("_SHA256") == Some(n.as_str())
            });
            match found {
                Some(s) if s.version() == &rustls::version::TLS12 => {
                    if !chosen.iter().any(|c: &rustls::SupportedCipherSuite| c.suite() == s.suite()) {
                        chosen.push(*s);
                    }
                }
                // A TLS 1.3 suite named here is always on anyway.
                Some(_) => {}
                None => warnings.push(format!(
                    "tls options `{name}`: cipher suite `{w}` is not supported (only AEAD suites are); ignored"
                )),
            }
        }
        if chosen.is_empty() && lo <= 12 {
            warnings.push(format!(
                "tls options `{name}`: none of the cipherSuites is supported; using the default TLS 1.2 suites"
            ));
        } else {
            suites.retain(|s| s.version() != &rustls::version::TLS12);
            suites.extend(chosen);
        }
    }

    // Curves.
    let mut kx = base.kx_groups.clone();
    if !o.curve_preferences.is_empty() {
        let all = rustls::crypto::aws_lc_rs::ALL_KX_GROUPS;
        let mut chosen: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
        for want in &o.curve_preferences {
            let canonical = match want.trim() {
                "CurveP256" | "secp256r1" | "P256" | "P-256" => "secp256r1",
                "CurveP384" | "secp384r1" | "P384" | "P-384" => "secp384r1",
                "X25519" | "x25519" => "X25519",
                "X25519MLKEM768" | "x25519mlkem768" => "X25519MLKEM768",
                other => other,
            };
            let found = all
                .iter()
                .find(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(canonical));
            match found {
                Some(g) => {
                    if !chosen.iter().any(|c| c.name() == g.name()) {
                        chosen.push(*g);
                    }
                }
                None => warnings.push(format!(
                    "tls options `{name}`: curve `{want}` is not supported; ignored"
                )),
            }
        }
        if chosen.is_empty() {
            warnings.push(format!(
                "tls options `{name}`: none of the curvePreferences is supported; using the defaults"
            ));
        } else {
            kx = chosen;
        }
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        kx_groups: kx,
        ..base
    });

    // Client authentication.
    let verifier = client_verifier(name, o, files, &provider)?;

    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls options `{name}`: {e}"))?;
    let resolver = Arc::new(StoreResolver {
        store: store.clone(),
        strict: o.sni_strict,
    });
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);

    // ALPN: Traefik's default is h2, http/1.1, acme-tls/1; `acme-tls/1` is answered by the
    // challenge path before these options are chosen, so it is not advertised here.
    let alpn: Vec<Vec<u8>> = if o.alpn_protocols.is_empty() {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        o.alpn_protocols
            .iter()
            .filter(|p| p.as_bytes() != super::ACME_TLS_ALPN)
            .map(|p| p.as_bytes().to_vec())
            .collect()
    };
    config.alpn_protocols = alpn;
    // One ticket key source and one session cache for the process: resumption survives reloads.
    config.session_storage = rt.sessions.clone();
    if o.disable_session_tickets {
        config.send_tls13_tickets = 0;
    } else {
        config.ticketer = rt.ticketer.clone();
    }
    config.ignore_client_order = o.prefer_server_cipher_suites;
    Ok(BuiltOptions {
        name: name.to_string(),
        config: Arc::new(config),
        sni_strict: o.sni_strict,
        warnings,
    })
}

fn client_verifier(
    name: &str,
    o: &TlsOptions,
    files: &FileContents,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let Some(ca) = &o.client_auth else {
        return Ok(rustls::server::WebPkiClientVerifier::no_client_auth());
    };
    let mut roots = RootCertStore::empty();
    for f in &ca.ca_files {
        let pem: &[u8] = if f.contains("-----BEGIN") {
            f.as_bytes()
        } else {
            match files.get(f) {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    return Err(format!(
                        "tls options `{name}`: clientAuth.caFiles: cannot read `{f}`: {e}"
                    ))
                }
                None => {
                    return Err(format!(
                        "tls options `{name}`: clientAuth.caFiles: `{f}` was not loaded"
                    ))
                }
            }
        };
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tls options `{name}`: clientAuth.caFiles `{f}`: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "tls options `{name}`: clientAuth.caFiles `{f}` holds no PEM certificate"
            ));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("tls options `{name}`: clientAuth.caFiles `{f}`: {e}"))?;
        }
    }
    // Traefik: CA files without a type mean RequireAndVerifyClientCert.
    let kind = match ca.client_auth_type.as_str() {
        "" if roots.is_empty() => "NoClientCert",
        "" => "RequireAndVerifyClientCert",
        k => k,
    };
    let verified = |optional: bool| -> Result<Arc<dyn ClientCertVerifier>, String> {
        if roots.is_empty() {
            return Err(format!(
                "tls options `{name}`: clientAuthType {kind} needs clientAuth.caFiles"
            ));
        }
        let b =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots.clone()), provider.clone());
        let b = if optional {
            b.allow_unauthenticated()
        } else {
            b
        };
        b.build()
            .map_err(|e| format!("tls options `{name}`: clientAuth: {e}"))
    };
    match kind {
        "NoClientCert" => Ok(WebPkiClientVerifier::no_client_auth()),
        "RequestClientCert" => Ok(Arc::new(AnyClientCert {
            mandatory: false,
            algs: provider.signature_verification_algorithms,
        })),
        "RequireAnyClientCert" => Ok(Arc::new(AnyClientCert {
            mandatory: true,
            algs: provider.signature_verification_algorithms,
        })),
        "VerifyClientCertIfGiven" => verified(true),
        "RequireAndVerifyClientCert" => verified(false),
        other => Err(format!(
            "tls options `{name}`: unknown clientAuthType `{other}` (NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
        )),
    }
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate is accepted unverified (the
/// handshake signature still proves the client holds its key), as Go does.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
