//! `/api/certificates`: the certificate inventory. Every certificate the snapshot serves (the
//! file provider's `tls.certificates` and the ACME resolvers' published ones) in Traefik's shape
//! (name = SHA-256 fingerprint, SANs, validity, key, issuer, status), joined with the ACME
//! runtime's inventory (resolver, last error, next renewal, backoff) and with the routers that
//! use it; ACME certificates that are wanted but not held (pending, backing off, resolver
//! disabled) are listed too, so a silent failure shows. A certificate that cannot be read or
//! parsed is listed with `status: disabled` and its error. Also feeds
//! `traefik_tls_certs_not_after` ([`summary`]).

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use wharf_providers::DynamicConfig;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use super::rfc3339_secs;
use crate::acme::{CertState, CertificateInfo};
use crate::rule::RuleSyntax;

/// Certificates expiring within this many seconds show as `warning`.
const WARN_BEFORE: i64 = 31 * 86_400;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What wharf reads from one certificate (the leaf of a PEM chain).
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    pub fingerprint: String,
    pub common_name: String,
    pub issuer_cn: String,
    /// The issuer's distinguished name (`CN=R11, O=Let's Encrypt, C=US`).
    pub issuer: String,
    /// Decimal, as Go's `big.Int.String()` (Traefik's `serial` label).
    pub serial: String,
    /// DNS names in certificate order (Traefik's `sans` label joins these).
    pub dns_names: Vec<String>,
    /// DNS names and IP addresses, sorted.
    pub sans: Vec<String>,
    pub not_after: i64,
    pub not_before: i64,
    pub key_type: &'static str,
    pub key_size: usize,
    pub signature_algorithm: &'static str,
    pub public_key_fingerprint: String,
    pub version: String,
}

fn read(cert: &str) -> Result<Vec<u8>, String> {
    if is_inline(cert) {
        Ok(cert.as_bytes().to_vec())
    } else {
        std::fs::read(cert).map_err(|e| format!("{cert}: {e}"))
    }
}

fn is_inline(cert: &str) -> bool {
    cert.contains("-----BEGIN")
}

/// Parses the leaf certificate of `cert_file` (a path or inline PEM).
pub(crate) fn summary(cert_file: &str) -> Result<Summary, String> {
    let pem_bytes = read(cert_file)?;
    let der = match parse_x509_pem(&pem_bytes) {
        Ok((_, pem)) => pem.contents,
        Err(e) => return Err(format!("not a PEM certificate: {e}")),
    };
    let cert = match parse_x509_certificate(&der) {
        Ok((_, c)) => c,
        Err(e) => return Err(format!("invalid certificate: {e}")),
    };
    let cn = |n: &X509Name<'_>| {
        n.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut dns_names = Vec::new();
    let mut sans: Vec<String> = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for g in &ext.value.general_names {
            match g {
                GeneralName::DNSName(d) => {
                    dns_names.push(d.to_string());
                    sans.push(d.to_string());
                }
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            sans.push(std::net::Ipv6Addr::from(a).to_string());
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    sans.sort();
    let spki = cert.public_key();
    let (key_type, key_size) = match spki.parsed() {
        Ok(PublicKey::RSA(k)) => ("RSA", k.key_size()),
        Ok(PublicKey::EC(p)) => ("ECDSA", p.key_size()),
        Ok(PublicKey::DSA(_)) => ("DSA", 0),
        _ => {
            if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" {
                ("Ed25519", 256)
            } else {
                ("unknown", 0)
            }
        }
    };
    let signature_algorithm = match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.11" => "SHA256-RSA",
        "1.2.840.113549.1.1.12" => "SHA384-RSA",
        "1.2.840.113549.1.1.13" => "SHA512-RSA",
        "1.2.840.113549.1.1.5" => "SHA1-RSA",
        "1.2.840.113549.1.1.10" => "SHA256-RSAPSS",
        "1.2.840.10045.4.3.2" => "ECDSA-SHA256",
        "1.2.840.10045.4.3.3" => "ECDSA-SHA384",
        "1.2.840.10045.4.3.4" => "ECDSA-SHA512",
        "1.3.101.112" => "Ed25519",
        _ => "unknown",
    };
    Ok(Summary {
        fingerprint: hex(&Sha256::digest(&der)),
        common_name: cn(cert.subject()),
        issuer_cn: cn(cert.issuer()),
        issuer: cert.issuer().to_string(),
        serial: cert.tbs_certificate.serial.to_string(),
        dns_names,
        sans,
        not_after: cert.validity().not_after.timestamp(),
        not_before: cert.validity().not_before.timestamp(),
        key_type,
        key_size,
        signature_algorithm,
        public_key_fingerprint: hex(&Sha256::digest(spki.raw)),
        version: format!("v{}", cert.version().0 + 1),
    })
}

/// One served certificate, parsed once per generation.
#[derive(Debug)]
pub(crate) struct Served {
    cert_file: String,
    parsed: Result<Summary, String>,
    /// Routers with TLS whose hosts (rule or `tls.domains`) this certificate covers.
    routers: Vec<String>,
}

/// The generation-bound half of the inventory: parses every served certificate and finds its
/// routers (reads files; the API caches it per generation).
pub(crate) fn served(cfg: &DynamicConfig, default_syntax: RuleSyntax) -> Vec<Served> {
    // Router → the names it serves over TLS.
    let mut router_hosts: Vec<(&String, Vec<String>)> = Vec::new();
    for (name, r) in &cfg.http.routers {
        let Some(tls) = &r.tls else { continue };
        let mut hosts: Vec<String> = Vec::new();
        for d in &tls.domains {
            hosts.push(d.main.to_ascii_lowercase());
            hosts.extend(d.sans.iter().map(|s| s.to_ascii_lowercase()));
        }
        let syntax = match r.rule_syntax.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("v2") => RuleSyntax::V2,
            Some(s) if s.eq_ignore_ascii_case("v3") => RuleSyntax::V3,
            _ => default_syntax,
        };
        if let Ok(rule) = crate::rule::parse(&r.rule, syntax) {
            hosts.extend(rule.domains().into_iter().map(|d| d.to_ascii_lowercase()));
        }
        hosts.retain(|h| !h.is_empty());
        router_hosts.push((name, hosts));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for c in &cfg.tls.certificates {
        if !seen.insert(c.cert_file.as_str()) {
            continue;
        }
        let parsed = summary(&c.cert_file);
        let routers = match &parsed {
            Ok(s) => router_hosts
                .iter()
                .filter(|(_, hosts)| {
                    hosts.iter().any(|h| {
                        s.sans
                            .iter()
                            .chain(std::iter::once(&s.common_name))
                            .any(|n| !n.is_empty() && crate::acme::name_covers(n, h))
                    })
                })
                .map(|(n, _)| (*n).clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        out.push(Served {
            cert_file: c.cert_file.clone(),
            parsed,
            routers,
        });
    }
    out
}

fn unix_now(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn secs(v: Option<u64>) -> Value {
    match v {
        Some(s) => Value::String(rfc3339_secs(s as i64)),
        None => Value::Null,
    }
}

fn lower_set<'a>(names: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    names.into_iter().map(|n| n.to_ascii_lowercase()).collect()
}

/// The whole inventory: served certificates joined with the ACME inventory `acme`, plus the
/// ACME certificates not served, sorted by name.
pub(crate) fn inventory(
    served: &[Served],
    acme: &[CertificateInfo],
    now: SystemTime,
) -> Vec<Value> {
    let now_s = unix_now(now);
    let mut matched = vec![false; acme.len()];
    let mut out: Vec<Value> = Vec::new();
    for c in served {
        let display_file = if is_inline(&c.cert_file) {
            "(inline)"
        } else {
            c.cert_file.as_str()
        };
        let s = match &c.parsed {
            Ok(s) => s,
            Err(e) => {
                let id = hex(&Sha256::digest(c.cert_file.as_bytes()));
                out.push(json!({
                    "name": id,
                    "id": id,
                    "certFile": display_file,
                    "provider": "file",
                    "status": "disabled",
                    "error": [e],
                    "routers": [],
                    "renewable": false,
                }));
                continue;
            }
        };
        // The ACME entry this certificate is (same names, same expiry).
        let names = lower_set(&s.dns_names);
        let info = acme.iter().enumerate().find(|(_, a)| {
            a.not_after.map(|t| t as i64) == Some(s.not_after) && lower_set(&a.domains) == names
        });
        if let Some((i, _)) = info {
            matched[i] = true;
        }
        let info = info.map(|(_, a)| a);
        let (mut status, mut errors): (&str, Vec<String>) = if s.not_after <= now_s {
            ("disabled", vec!["certificate expired".into()])
        } else if s.not_before > now_s {
            ("disabled", vec!["certificate not yet valid".into()])
        } else if s.not_after - now_s < WARN_BEFORE {
            ("warning", vec!["certificate expires within 31 days".into()])
        } else {
            ("enabled", vec![])
        };
        if let Some(e) = info.and_then(|a| a.last_error.as_ref()) {
            // Still served, but its renewal failed: visible, not silent.
            if status == "enabled" {
                status = "warning";
            }
            errors.push(format!("last ACME order failed: {e}"));
        }
        let mut v = json!({
            "name": s.fingerprint,
            "id": info.map_or(s.fingerprint.as_str(), |a| a.id.as_str()),
            "domains": info.map_or_else(|| s.dns_names.clone(), |a| a.domains.clone()),
            "sans": s.sans,
            "notAfter": rfc3339_secs(s.not_after),
            "notBefore": rfc3339_secs(s.not_before),
            "serialNumber": s.serial,
            "commonName": s.common_name,
            "issuerCN": s.issuer_cn,
            "issuer": s.issuer,
            "version": s.version,
            "keyType": s.key_type,
            "keySize": s.key_size,
            "signatureAlgorithm": s.signature_algorithm,
            "certFingerprint": s.fingerprint,
            "publicKeyFingerprint": s.public_key_fingerprint,
            "status": status,
            "provider": info.map_or_else(|| "file".to_string(), |a| crate::acme::provider_name(&a.resolver)),
            "certFile": display_file,
            "routers": info.map_or_else(|| c.routers.clone(), |a| a.routers.clone()),
            "renewable": info.is_some(),
        });
        if let (Value::Object(m), Some(a)) = (&mut v, info) {
            add_acme(m, a);
        }
        if !errors.is_empty() {
            if let Value::Object(m) = &mut v {
                m.insert("error".into(), json!(errors));
            }
        }
        out.push(v);
    }
    // Wanted or held by a resolver, but not served: pending, backing off, disabled, expired.
    for (a, _) in acme.iter().zip(&matched).filter(|(_, m)| !**m) {
        let (status, error) = match a.state {
            CertState::Valid => ("enabled", None),
            CertState::Pending => ("warning", Some("certificate not issued yet".to_string())),
            CertState::BackingOff | CertState::Disabled | CertState::Expired => (
                "disabled",
                Some(
                    a.last_error
                        .clone()
                        .unwrap_or_else(|| format!("{:?}", a.state).to_ascii_lowercase()),
                ),
            ),
        };
        let mut v = json!({
            "name": a.id,
            "id": a.id,
            "domains": a.domains,
            "sans": a.domains,
            "commonName": a.domains.first().cloned().unwrap_or_default(),
            "issuer": a.issuer,
            "notAfter": secs(a.not_after),
            "status": status,
            "provider": crate::acme::provider_name(&a.resolver),
            "routers": a.routers,
            "renewable": a.not_after.is_some(),
        });
        if let Value::Object(m) = &mut v {
            add_acme(m, a);
            if let Some(e) = error {
                m.insert("error".into(), json!([e]));
            }
        }
        out.push(v);
    }
    out.sort_by(|a, b| {
        a.get("name")
            .and_then(Value::as_str)
            .cmp(&b.get("name").and_then(Value::as_str))
    });
    out
}

fn add_acme(m: &mut Map<String, Value>, a: &CertificateInfo) {
    m.insert("resolver".into(), json!(a.resolver));
    m.insert("acmeState".into(), json!(a.state));
    m.insert("nextRenewal".into(), secs(a.next_renewal));
    m.insert("lastError".into(), json!(a.last_error));
    m.insert("failures".into(), json!(a.failures));
    m.insert("retryAt".into(), secs(a.retry_at));
}
