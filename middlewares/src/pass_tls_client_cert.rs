//! PassTLSClientCert: passes the client certificate chain (PEM) and/or chosen fields of it to
//! the backend in `X-Forwarded-Tls-Client-Cert` and `X-Forwarded-Tls-Client-Cert-Info`. Sits in
//! the request phase of the chain; the proxy puts the chain the TLS handshake saw into the
//! request's extensions ([`ClientCertChain`]).

use schemars::JsonSchema;
use std::sync::{Arc, OnceLock};

use http::{request, HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::{de, Action, SpecError};

/// `passTLSClientCert`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PassTlsClientCertSpec {
    /// Send the escaped PEM of the certificate chain in `X-Forwarded-Tls-Client-Cert`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub pem: bool,
    /// Fields sent in `X-Forwarded-Tls-Client-Cert-Info`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<TlsClientCertInfoSpec>,
}

/// `passTLSClientCert.info`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TlsClientCertInfoSpec {
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub not_after: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub not_before: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub sans: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub serial_number: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<TlsSubjectInfoSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<TlsIssuerInfoSpec>,
}

/// `passTLSClientCert.info.subject`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TlsSubjectInfoSpec {
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub country: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub province: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub locality: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub organization: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub organizational_unit: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub common_name: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub serial_number: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub domain_component: bool,
}

/// `passTLSClientCert.info.issuer`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TlsIssuerInfoSpec {
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub country: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub province: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub locality: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub organization: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub common_name: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub serial_number: bool,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub domain_component: bool,
}

static CERT_HEADER: HeaderName = HeaderName::from_static("x-forwarded-tls-client-cert");
static INFO_HEADER: HeaderName = HeaderName::from_static("x-forwarded-tls-client-cert-info");

/// The certificate chain a client presented in its TLS handshake (leaf first, as sent), shared
/// by every request of the connection: the proxy creates it once per mTLS connection and puts
/// an `Arc<ClientCertChain>` into each request's extensions. The `pem` header value is built on
/// first use and then reused for the connection's later requests.
#[derive(Debug)]
pub struct ClientCertChain {
    certs: Arc<[CertificateDer<'static>]>,
    pem: OnceLock<Option<HeaderValue>>,
    /// The `info` value for the first set of fields asked on this connection (routers rarely
    /// mix several passTLSClientCert configurations on one connection; others are computed per
    /// request).
    info: OnceLock<(InfoParts, Option<HeaderValue>)>,
}

impl ClientCertChain {
    /// `None` when the client sent no certificate.
    pub fn new(certs: Arc<[CertificateDer<'static>]>) -> Option<Arc<Self>> {
        (!certs.is_empty()).then(|| {
            Arc::new(ClientCertChain {
                certs,
                pem: OnceLock::new(),
                info: OnceLock::new(),
            })
        })
    }

    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    fn info_value(&self, parts: &InfoParts) -> Option<HeaderValue> {
        let compute = || HeaderValue::from_str(&info_header_value(parts, &self.certs)).ok();
        let (cached_for, value) = self.info.get_or_init(|| (*parts, compute()));
        if cached_for == parts {
            value.clone()
        } else {
            compute()
        }
    }

    fn pem_value(&self) -> Option<&HeaderValue> {
        self.pem
            .get_or_init(|| HeaderValue::from_str(&pem_header_value(&self.certs)).ok())
            .as_ref()
    }
}

/// The `X-Forwarded-Tls-Client-Cert` value for `pem: true`, as Traefik v3 writes it: each
/// certificate's PEM with the `BEGIN`/`END` lines and line breaks removed (so the plain base64
/// of the DER, padding included, not URL-escaped since v3), joined by commas, leaf first.
pub fn pem_header_value<C: AsRef<[u8]>>(chain: &[C]) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    for (i, der) in chain.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        base64::engine::general_purpose::STANDARD.encode_string(der.as_ref(), &mut out);
    }
    out
}

/// Which distinguished-name parts to pass (subject or issuer; the issuer has no OU option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct DnParts {
    country: bool,
    province: bool,
    locality: bool,
    organization: bool,
    organizational_unit: bool,
    common_name: bool,
    serial_number: bool,
    domain_component: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InfoParts {
    not_after: bool,
    not_before: bool,
    sans: bool,
    serial_number: bool,
    subject: Option<DnParts>,
    issuer: Option<DnParts>,
}

/// `passTLSClientCert`, compiled.
#[derive(Debug)]
pub struct PassTlsClientCert {
    pem: bool,
    info: Option<InfoParts>,
}

impl PassTlsClientCert {
    pub fn compile(spec: &PassTlsClientCertSpec) -> Result<Self, SpecError> {
        let info = spec.info.as_ref().map(|i| InfoParts {
            not_after: i.not_after,
            not_before: i.not_before,
            sans: i.sans,
            serial_number: i.serial_number,
            subject: i.subject.as_ref().map(|s| DnParts {
                country: s.country,
                province: s.province,
                locality: s.locality,
                organization: s.organization,
                organizational_unit: s.organizational_unit,
                common_name: s.common_name,
                serial_number: s.serial_number,
                domain_component: s.domain_component,
            }),
            issuer: i.issuer.as_ref().map(|s| DnParts {
                country: s.country,
                province: s.province,
                locality: s.locality,
                organization: s.organization,
                organizational_unit: false,
                common_name: s.common_name,
                serial_number: s.serial_number,
                domain_component: s.domain_component,
            }),
        });
        Ok(PassTlsClientCert {
            pem: spec.pem,
            info,
        })
    }

    /// Sets the headers from the connection's client certificates. Without any (no TLS, or
    /// no client certificate) nothing is set, as Traefik; a client's own copies of these headers
    /// were already removed by the entry point unless it trusts the client's forwarded headers.
    pub fn on_request(&self, parts: &mut request::Parts) -> Action {
        let Some(chain) = parts.extensions.get::<Arc<ClientCertChain>>() else {
            tracing::debug!("passTLSClientCert on a request without a client certificate");
            return Action::Continue;
        };
        if self.pem {
            if let Some(v) = chain.pem_value() {
                parts.headers.insert(CERT_HEADER.clone(), v.clone());
            }
        }
        if let Some(info) = &self.info {
            // Query-escaped: always a valid header value.
            if let Some(v) = chain.info_value(info) {
                parts.headers.insert(INFO_HEADER.clone(), v);
            }
        }
        Action::Continue
    }
}

/// The `X-Forwarded-Tls-Client-Cert-Info` value: per certificate (comma-separated, leaf
/// first) the chosen fields joined by `;` in Traefik's order `Subject="..."`, `Issuer="..."`,
/// `SerialNumber="..."`, `NB="..."`, `NA="..."`, `SAN="..."` (empty ones left out), then the
/// whole string query-escaped as Go's `url.QueryEscape`.
fn info_header_value(info: &InfoParts, certs: &[CertificateDer<'static>]) -> String {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let mut raw: Vec<u8> = Vec::with_capacity(256);
    for (i, der) in certs.iter().enumerate() {
        if i > 0 {
            raw.push(b',');
        }
        // The handshake verified (or at least parsed) these; one that x509-parser refuses
        // contributes an empty entry rather than failing the request.
        if let Ok((_, cert)) = X509Certificate::from_der(der.as_ref()) {
            cert_info(&mut raw, info, &cert);
        }
    }
    query_escape(&raw)
}

fn cert_info(
    out: &mut Vec<u8>,
    info: &InfoParts,
    cert: &x509_parser::certificate::X509Certificate<'_>,
) {
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, name: &str, value: &[u8]| {
        if !first {
            out.push(b';');
        }
        first = false;
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(value);
        out.push(b'"');
    };
    for (label, parts, name) in [
        ("Subject", info.subject, cert.subject()),
        ("Issuer", info.issuer, cert.issuer()),
    ] {
        if let Some(parts) = parts {
            let mut dn = distinguished_name(&parts, name);
            if dn.last() == Some(&b',') {
                dn.pop();
            }
            if !dn.is_empty() {
                field(out, label, &dn);
            }
        }
    }
    if info.serial_number {
        field(
            out,
            "SerialNumber",
            serial_decimal(cert.raw_serial()).as_bytes(),
        );
    }
    // Go writes `uint64(t.Unix())`: a date before 1970 wraps around, kept as is.
    if info.not_before {
        let t = cert.validity().not_before.timestamp() as u64;
        field(out, "NB", t.to_string().as_bytes());
    }
    if info.not_after {
        let t = cert.validity().not_after.timestamp() as u64;
        field(out, "NA", t.to_string().as_bytes());
    }
    if info.sans {
        let sans = subject_alt_names(cert);
        if !sans.is_empty() {
            field(out, "SAN", sans.join(",").as_bytes());
        }
    }
}

/// DER of the attribute type OIDs Traefik reads (2.5.4.x, and RFC 2247's domainComponent).
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_SERIAL: &[u8] = &[0x55, 0x04, 0x05];
const OID_COUNTRY: &[u8] = &[0x55, 0x04, 0x06];
const OID_LOCALITY: &[u8] = &[0x55, 0x04, 0x07];
const OID_PROVINCE: &[u8] = &[0x55, 0x04, 0x08];
const OID_ORG: &[u8] = &[0x55, 0x04, 0x0a];
const OID_OU: &[u8] = &[0x55, 0x04, 0x0b];
const OID_DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];

/// A name as Go's `pkix.Name` sees it, written in Traefik's order: every `DC=` (in the
/// certificate's order), then `C`, `ST`, `L`, `O`, `OU` (each value), `SN`, `CN` (the last
/// value, as Go keeps only that), each followed by `,`.
fn distinguished_name(parts: &DnParts, name: &x509_parser::x509::X509Name<'_>) -> Vec<u8> {
    let attrs = || name.iter_rdn().flat_map(|rdn| rdn.iter());
    let values = |oid: &'static [u8]| {
        attrs()
            .filter(move |a| a.attr_type().as_bytes() == oid)
            .filter_map(|a| attr_string(a))
    };
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, prefix: &str, v: &[u8]| {
        if !v.is_empty() {
            out.extend_from_slice(prefix.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v);
            out.push(b',');
        }
    };
    if parts.domain_component {
        for v in values(OID_DC) {
            // Go prints the value with `%s` even when empty.
            out.extend_from_slice(b"DC=");
            out.extend_from_slice(&v);
            out.push(b',');
        }
    }
    for (on, oid, prefix) in [
        (parts.country, OID_COUNTRY, "C"),
        (parts.province, OID_PROVINCE, "ST"),
        (parts.locality, OID_LOCALITY, "L"),
        (parts.organization, OID_ORG, "O"),
        (parts.organizational_unit, OID_OU, "OU"),
    ] {
        if on {
            for v in values(oid) {
                put(&mut out, prefix, &v);
            }
        }
    }
    if parts.serial_number {
        if let Some(v) = values(OID_SERIAL).last() {
            put(&mut out, "SN", &v);
        }
    }
    if parts.common_name {
        if let Some(v) = values(OID_CN).last() {
            put(&mut out, "CN", &v);
        }
    }
    out
}

/// An attribute value as Go's certificate parser turns it into a string: Printable, UTF8, IA5,
/// Numeric and T61 strings as their bytes, BMPString decoded from UTF-16; other types are not
/// strings (Go then leaves the field empty).
fn attr_string(a: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Option<Vec<u8>> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let v = a.attr_value();
    match v.tag() {
        Tag::PrintableString
        | Tag::Utf8String
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::T61String => Some(v.data.to_vec()),
        Tag::BmpString => {
            let units: Vec<u16> = v
                .data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units).into_bytes())
        }
        _ => None,
    }
}

/// Subject alternative names in Go's grouping: DNS names, e-mail addresses, IP addresses (an
/// IPv4-mapped IPv6 address printed as IPv4, as Go's `net.IP`), URIs.
fn subject_alt_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    let names = &san.value.general_names;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        if let GeneralName::DNSName(d) = n {
            out.push((*d).to_string());
        }
    }
    for n in names {
        if let GeneralName::RFC822Name(e) = n {
            out.push((*e).to_string());
        }
    }
    for n in names {
        if let GeneralName::IPAddress(ip) = n {
            if let Ok(b) = <[u8; 4]>::try_from(*ip) {
                out.push(std::net::Ipv4Addr::from(b).to_string());
            } else if let Ok(b) = <[u8; 16]>::try_from(*ip) {
                let v6 = std::net::Ipv6Addr::from(b);
                out.push(match v6.to_ipv4_mapped() {
                    Some(v4) => v4.to_string(),
                    None => v6.to_string(),
                });
            }
        }
    }
    for n in names {
        if let GeneralName::URI(u) = n {
            out.push((*u).to_string());
        }
    }
    out
}

/// A DER INTEGER's content (two's complement, big-endian) in decimal, as Go's
/// `big.Int.String()`.
fn serial_decimal(raw: &[u8]) -> String {
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = raw.to_vec();
    if negative {
        for b in &mut mag {
            *b = !*b;
        }
        for b in mag.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    let mut num: Vec<u8> = mag.into_iter().skip_while(|b| *b == 0).collect();
    let mut digits = Vec::new();
    while !num.is_empty() {
        let mut rem = 0u32;
        let mut next = Vec::with_capacity(num.len());
        for &b in &num {
            let cur = rem * 256 + u32::from(b);
            let q = cur / 10;
            rem = cur % 10;
            if !(next.is_empty() && q == 0) {
                next.push(q as u8);
            }
        }
        digits.push(b'0' + rem as u8);
        num = next;
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if negative {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Go's `url.QueryEscape` over bytes: letters, digits and `-_.~` kept, space as `+`, every
/// other byte as `%XX` (upper-case hex).
fn query_escape(raw: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(raw.len() + raw.len() / 4);
    for &b in raw {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "pass_tls_client_cert_tests.rs"]
mod tests;
