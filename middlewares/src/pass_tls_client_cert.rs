//! PassTLSClientCert: passes the client certificate (PEM) and/or chosen fields of it to the
//! backend in `X-Forwarded-Tls-Client-Cert` and `X-Forwarded-Tls-Client-Cert-Info`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

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

/// The `X-Forwarded-Tls-Client-Cert` value for `pem: true`, as Traefik writes it: each
/// certificate's PEM body (base64 of the DER, no delimiters or line breaks), query-escaped,
/// joined by commas. For the TLS layer once client certificates reach the chain.
pub fn pem_header_value(chain_der: &[&[u8]]) -> String {
    use base64::Engine as _;
    const ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    chain_der
        .iter()
        .map(|der| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            percent_encoding::utf8_percent_encode(&b64, ESCAPE).to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_value_is_escaped_base64() {
        let v = super::pem_header_value(&[&[0xfb, 0xff, 0xfe], &[1, 2, 3]]);
        // base64 "+//+" and "AQID", each query-escaped, comma-joined.
        assert_eq!(v, "%2B%2F%2F%2B,AQID");
    }
}
