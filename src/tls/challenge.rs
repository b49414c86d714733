//! TLS-ALPN-01 (RFC 8737) challenge certificates: the ACME resolver registers one per domain
//! while an authorization is pending; the TLS acceptor serves it to a client that offers only
//! ALPN `acme-tls/1` (the CA's validator), before any router or certificate store is consulted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::load_pem_pair;
use super::TlsError;

/// The ALPN protocol of TLS-ALPN-01.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Challenge certificates by domain (lower-case, no trailing dot). Shared by every entry point
/// of the process: get it with [`AlpnChallenges::global`] (or `TlsRuntime::global().challenges`).
#[derive(Debug, Default)]
pub struct AlpnChallenges {
    certs: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

fn norm(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

impl AlpnChallenges {
    /// The process-wide registry the TLS acceptor reads.
    pub fn global() -> &'static Arc<AlpnChallenges> {
        &super::TlsRuntime::global().challenges
    }

    /// Registers the challenge for `domain` from the SHA-256 digest of the key authorization
    /// (`sha256(token + "." + thumbprint)`): generates the self-signed certificate RFC 8737 asks
    /// for (SAN = `domain`, critical `acmeIdentifier` extension holding the digest).
    pub fn insert(
        &self,
        domain: &str,
        key_authorization_sha256: &[u8; 32],
    ) -> Result<(), TlsError> {
        let domain = norm(domain);
        let mut params = rcgen::CertificateParams::new(vec![domain.clone()])
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
            key_authorization_sha256,
        )];
        let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        // Not `certified_key`: webpki refuses to parse a certificate with the critical
        // acmeIdentifier extension, so the key check cannot run (we made the pair ourselves).
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        let ck = CertifiedKey::new(vec![cert.der().clone()], signer);
        self.insert_certified(&domain, Arc::new(ck));
        Ok(())
    }

    /// Registers a challenge certificate the caller built itself (PEM certificate and key).
    pub fn insert_pem(
        &self,
        domain: &str,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<(), TlsError> {
        let (chain, key) = load_pem_pair(cert_pem, key_pem)?;
        // The acmeIdentifier extension is critical and unknown to webpki: no key check.
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
            .map_err(|e| TlsError::Pem(format!("unsupported private key: {e}")))?;
        let ck = CertifiedKey::new(chain, signer);
        self.insert_certified(domain, Arc::new(ck));
        Ok(())
    }

    /// Registers a ready rustls key.
    pub fn insert_certified(&self, domain: &str, key: Arc<CertifiedKey>) {
        let mut m = self
            .certs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.insert(norm(domain), key);
    }

    /// Removes the challenge of `domain` (call once the authorization is valid or failed).
    pub fn remove(&self, domain: &str) {
        let mut m = self
            .certs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.remove(&norm(domain));
    }

    /// The challenge certificate of `domain`, if one is registered.
    pub fn get(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        let m = self
            .certs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.get(&norm(domain)).cloned()
    }

    /// Number of pending challenges.
    pub fn len(&self) -> usize {
        self.certs.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Serves the challenge certificate of the SNI; no SNI or no challenge: handshake failure.
#[derive(Debug)]
pub(crate) struct ChallengeResolver(pub(crate) Arc<AlpnChallenges>);

impl ResolvesServerCert for ChallengeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.get(hello.server_name()?)
    }
}

/// Whether a ClientHello is a TLS-ALPN-01 validation: it offers `acme-tls/1` (RFC 8737 says it
/// offers only that protocol; any offer of it is treated as a validation attempt).
pub(crate) fn is_challenge(hello: &ClientHello<'_>) -> bool {
    hello
        .alpn()
        .is_some_and(|mut protos| protos.any(|p| p == ACME_TLS_ALPN))
}
