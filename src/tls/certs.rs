//! Certificates: PEM (a path's content or inline) → rustls keys, the facts the inventory shows
//! (SANs, issuer, not-after), and the store the resolver picks from by SNI (exact name, then
//! wildcard, then the default certificate).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::Serialize;

use super::TlsError;

/// Reads a PEM certificate chain and its private key.
pub(crate) fn load_pem_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::Pem("no PEM certificate found".into()));
    }
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| TlsError::Pem(format!("private key: {e}")))?
        .ok_or_else(|| TlsError::Pem("no PEM private key found".into()))?;
    Ok((chain, key))
}

/// A rustls key from a chain and a private key; refuses a key that does not match the leaf.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, TlsError> {
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| TlsError::Pem(format!("unsupported private key: {e}")))?;
    let ck = CertifiedKey::new(chain, signer);
    match ck.keys_match() {
        Ok(()) => Ok(ck),
        // Keys whose public half rustls cannot extract are accepted unchecked.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(_) => Err(TlsError::Pem(
            "the private key does not match the certificate".into(),
        )),
    }
}

/// What the inventory shows about one leaf certificate.
#[derive(Clone, Debug)]
pub(crate) struct LeafFacts {
    pub domains: Vec<String>,
    pub subject: String,
    pub issuer: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub serial: String,
}

fn to_system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Parses the leaf: DNS SANs (lower-case), else the subject's common name.
pub(crate) fn leaf_facts(der: &CertificateDer<'_>) -> Result<LeafFacts, TlsError> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| TlsError::Pem(format!("certificate does not parse: {e}")))?;
    let mut domains = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => domains.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        domains.push(std::net::Ipv4Addr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        domains.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    if domains.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                domains.push(s.to_ascii_lowercase());
            }
        }
    }
    let v = cert.validity();
    Ok(LeafFacts {
        domains,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: to_system_time(v.not_before.timestamp()),
        not_after: to_system_time(v.not_after.timestamp()),
        serial: cert.raw_serial_as_string(),
    })
}

/// Where a certificate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CertificateSource {
    /// `tls.certificates` of a provider (file, or ACME publishing through the dynamic config).
    File,
    /// `tls.stores.default.defaultCertificate`.
    DefaultStore,
    /// The self-signed certificate wharf generates once per process when no default is given.
    Generated,
}

/// One certificate as `/api/certificates` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    /// Stable id: the first 16 hex digits of the leaf's SHA-256 (or of the configured paths
    /// when the certificate could not be read).
    pub id: String,
    pub source: CertificateSource,
    /// `certFile` as configured (a path, or `inline` for inline PEM; empty when generated).
    pub cert_file: String,
    /// TLS stores it was put in (`default`).
    pub stores: Vec<String>,
    /// DNS (and IP) subject alternative names; the common name when there are none.
    pub domains: Vec<String>,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// RFC 3339 (UTC); empty when unreadable.
    pub not_before: String,
    pub not_after: String,
    /// Seconds since the Unix epoch (for metrics: `traefik_tls_certs_not_after`).
    pub not_after_unix: i64,
    /// Qualified names of the TLS routers whose `Host` domains this certificate serves.
    pub routers: Vec<String>,
    /// `enabled`, or `disabled` with `error` saying why (unreadable, expired, mismatched key).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Warnings that do not disable it (expires within 7 days, another certificate for the
    /// same names won).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Formats a time as RFC 3339 UTC (`2026-12-03T18:00:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(crate) fn unix(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// The certificates the resolver chooses from, built at compile time.
#[derive(Debug, Default)]
pub struct CertStore {
    /// Exact names (lower-case).
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Wildcards by the suffix after `*.` (`example.com` for `*.example.com`).
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// `tls.stores.default.defaultCertificate`, else the generated one.
    pub(crate) default: Option<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Adds `key` under every name; the first certificate for a name wins (files are read in
    /// configuration order, as Traefik keeps the first).
    pub(crate) fn add(&mut self, names: &[String], key: &Arc<CertifiedKey>) -> Vec<String> {
        let mut taken = Vec::new();
        for n in names {
            let (map, k) = match n.strip_prefix("*.") {
                Some(suffix) => (&mut self.wildcard, suffix.to_string()),
                None => (&mut self.exact, n.clone()),
            };
            match map.entry(k) {
                std::collections::hash_map::Entry::Occupied(_) => taken.push(n.clone()),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(key.clone());
                }
            }
        }
        taken
    }

    /// The certificate for a server name: exact, then a wildcard one label deep.
    pub fn find(&self, sni: &str) -> Option<&Arc<CertifiedKey>> {
        let sni = sni.trim_end_matches('.');
        let lower;
        let name = if sni.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = sni.to_ascii_lowercase();
            lower.as_str()
        } else {
            sni
        };
        if let Some(k) = self.exact.get(name) {
            return Some(k);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent)
    }

    /// Whether a name is served by a non-default certificate.
    pub fn covers(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The certificate for a handshake: by SNI, else the default. `strict` refuses an unknown
    /// or missing SNI instead (`sniStrict`).
    pub fn resolve(&self, sni: Option<&str>, strict: bool) -> Option<Arc<CertifiedKey>> {
        if let Some(k) = sni.and_then(|s| self.find(s)) {
            return Some(k.clone());
        }
        if strict {
            return None;
        }
        self.default.clone()
    }
}

/// The self-signed default certificate, generated once per process (CN and SAN
/// `TRAEFIK DEFAULT CERT`, as Traefik names its own).
pub(crate) fn generated_default() -> Result<&'static (Arc<CertifiedKey>, LeafFacts), TlsError> {
    static CELL: OnceLock<Result<(Arc<CertifiedKey>, LeafFacts), TlsError>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "TRAEFIK DEFAULT CERT");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![rcgen::SanType::DnsName(
            "4b1d5f4c4f5d2b1e.traefik.default"
                .to_string()
                .try_into()
                .map_err(|e: rcgen::Error| TlsError::Generate(e.to_string()))?,
        )];
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(3600)).into();
        params.not_after = (now + Duration::from_secs(365 * 86_400)).into();
        let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        let facts = leaf_facts(cert.der())?;
        let ck = certified_key(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )?;
        Ok((Arc::new(ck), facts))
    })
    .as_ref()
    .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_256_000)),
            "2026-12-03T00:00:00Z"
        );
    }

    #[test]
    fn store_exact_then_wildcard() {
        let Ok((k, _)) = generated_default() else {
            panic!("generate")
        };
        let mut s = CertStore::default();
        s.add(&["a.example.com".into()], k);
        s.add(&["*.example.com".into()], k);
        assert!(s.find("a.example.com").is_some());
        assert!(s.find("B.example.com.").is_some());
        assert!(s.find("x.y.example.com").is_none());
        assert!(s.find("example.com").is_none());
    }
}
