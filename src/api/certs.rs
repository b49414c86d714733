//! `/api/certificates`: the file provider's `tls.certificates` in Traefik's shape (name =
//! SHA-256 fingerprint, SANs, validity, key, issuer, status). A certificate that cannot be read
//! or parsed is listed with `status: disabled` and its error. The TLS/ACME work owns the full
//! inventory; this reads what the snapshot's configuration names.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wharf_providers::DynamicConfig;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use super::rfc3339_secs;

/// Certificates expiring within this many seconds show as `warning`.
const WARN_BEFORE: i64 = 31 * 86_400;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One entry per configured certificate, sorted by name.
pub(crate) fn inventory(cfg: &DynamicConfig, now: SystemTime) -> Vec<Value> {
    let now_s = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut out: Vec<Value> = cfg
        .tls
        .certificates
        .iter()
        .map(|c| one(&c.cert_file, now_s))
        .collect();
    out.sort_by(|a, b| {
        a.get("name")
            .and_then(Value::as_str)
            .cmp(&b.get("name").and_then(Value::as_str))
    });
    out
}

fn read(cert: &str) -> Result<Vec<u8>, String> {
    if cert.contains("-----BEGIN") {
        Ok(cert.as_bytes().to_vec())
    } else {
        std::fs::read(cert).map_err(|e| format!("{cert}: {e}"))
    }
}

fn one(cert_file: &str, now: i64) -> Value {
    let failed = |e: String| {
        json!({
            "name": hex(&Sha256::digest(cert_file.as_bytes())),
            "certFile": if cert_file.contains("-----BEGIN") { "(inline)" } else { cert_file },
            "status": "disabled",
            "error": [e],
        })
    };
    let pem_bytes = match read(cert_file) {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    let der = match parse_x509_pem(&pem_bytes) {
        Ok((_, pem)) => pem.contents,
        Err(e) => return failed(format!("not a PEM certificate: {e}")),
    };
    let cert = match parse_x509_certificate(&der) {
        Ok((_, c)) => c,
        Err(e) => return failed(format!("invalid certificate: {e}")),
    };
    let fp = hex(&Sha256::digest(&der));
    let cn = |n: &X509Name<'_>| {
        n.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut sans: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(d) => Some(d.to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                        16 => <[u8; 16]>::try_from(*b)
                            .ok()
                            .map(|a| std::net::Ipv6Addr::from(a).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    sans.sort();
    let not_after = cert.validity().not_after.timestamp();
    let not_before = cert.validity().not_before.timestamp();
    let spki = cert.public_key();
    let (key_type, key_size) = match spki.parsed() {
        Ok(PublicKey::RSA(k)) => ("RSA", k.key_size()),
        Ok(PublicKey::EC(p)) => ("ECDSA", p.key_size()),
        Ok(PublicKey::DSA(_)) => ("DSA", 0),
        _ => {
            let oid = spki.algorithm.algorithm.to_id_string();
            if oid == "1.3.101.112" {
                ("Ed25519", 256)
            } else {
                ("unknown", 0)
            }
        }
    };
    let sig = match cert.signature_algorithm.algorithm.to_id_string().as_str() {
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
    let (status, errors): (&str, Vec<String>) = if not_after <= now {
        ("disabled", vec!["certificate expired".into()])
    } else if not_before > now {
        ("disabled", vec!["certificate not yet valid".into()])
    } else if not_after - now < WARN_BEFORE {
        ("warning", vec!["certificate expires within 31 days".into()])
    } else {
        ("enabled", vec![])
    };
    let mut v = json!({
        "name": fp,
        "sans": sans,
        "notAfter": rfc3339_secs(not_after),
        "notBefore": rfc3339_secs(not_before),
        "serialNumber": cert.tbs_certificate.serial.to_string(),
        "commonName": cn(cert.subject()),
        "issuerCN": cn(cert.issuer()),
        "version": format!("v{}", cert.version().0 + 1),
        "keyType": key_type,
        "keySize": key_size,
        "signatureAlgorithm": sig,
        "certFingerprint": fp,
        "publicKeyFingerprint": hex(&Sha256::digest(spki.raw)),
        "status": status,
        "provider": "file",
        "certFile": if cert_file.contains("-----BEGIN") { "(inline)" } else { cert_file },
    });
    if !errors.is_empty() {
        if let Value::Object(m) = &mut v {
            m.insert("error".into(), json!(errors));
        }
    }
    v
}
