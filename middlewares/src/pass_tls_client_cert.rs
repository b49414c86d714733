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
