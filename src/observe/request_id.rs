//! Request IDs (wharf-specific, Traefik has none): at request start the proxy makes sure the
//! request carries `X-Request-Id` (or the configured header); the same value is forwarded to
//! the backend, returned to the client and written in the access log (`RequestId` field).
//!
//! Config (static): `requestId.enabled` (default: on when `accessLog` or `tracing` is
//! configured, off otherwise, so a plain drop-in forwards exactly what Traefik forwards) and
//! `requestId.headerName` (default `X-Request-Id`). An incoming ID is kept when it is a
//! reasonable token (1–128 visible ASCII characters); anything else is replaced.

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::config::RequestId;

/// Longest incoming ID that is kept as it is.
const MAX_INCOMING_LEN: usize = 128;

#[derive(Debug, Clone)]
pub struct RequestIdSettings {
    pub header: HeaderName,
}

impl RequestIdSettings {
    /// `None` when request IDs are off.
    pub fn from_config(cfg: Option<&RequestId>, default_on: bool) -> Result<Option<Self>, String> {
        let enabled = cfg.and_then(|c| c.enabled).unwrap_or(default_on);
        if !enabled {
            return Ok(None);
        }
        let name = cfg
            .map(|c| c.header_name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("X-Request-Id");
        Ok(Some(RequestIdSettings {
            header: super::header_name(name)?,
        }))
    }

    /// The request's ID: the incoming one when acceptable, else a new one, which is set on
    /// the request (so the backend receives it).
    pub fn ensure(&self, headers: &mut HeaderMap) -> HeaderValue {
        let mut incoming = headers.get_all(&self.header).iter();
        if let (Some(v), None) = (incoming.next(), incoming.next()) {
            let b = v.as_bytes();
            if !b.is_empty()
                && b.len() <= MAX_INCOMING_LEN
                && b.iter().all(|c| c.is_ascii_graphic())
            {
                return v.clone();
            }
        }
        let id = new_id();
        headers.insert(self.header.clone(), id.clone());
        id
    }
}

/// A random UUID (version 4) in its usual 36-character form.
pub fn new_id() -> HeaderValue {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 36];
    let mut j = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[j] = b'-';
            j += 1;
        }
        out[j] = HEX[usize::from(byte >> 4)];
        out[j + 1] = HEX[usize::from(byte & 0x0f)];
        j += 2;
    }
    // Hex digits and dashes are always a valid header value.
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_good_ids_and_replaces_bad_ones() {
        let s = RequestIdSettings::from_config(None, true).unwrap().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc-123"));
        assert_eq!(s.ensure(&mut h), "abc-123");
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("has space"));
        let id = s.ensure(&mut h);
        assert_eq!(id.len(), 36);
        assert_eq!(h.get("x-request-id"), Some(&id));
        let mut h = HeaderMap::new();
        let a = s.ensure(&mut h);
        let b = s.ensure(&mut HeaderMap::new());
        assert_ne!(a, b);
        assert_eq!(a.as_bytes()[14], b'4');
    }

    #[test]
    fn default_follows_observability() {
        assert!(RequestIdSettings::from_config(None, false)
            .unwrap()
            .is_none());
        let off = RequestId {
            enabled: Some(false),
            header_name: String::new(),
        };
        assert!(RequestIdSettings::from_config(Some(&off), true)
            .unwrap()
            .is_none());
        let custom = RequestId {
            enabled: Some(true),
            header_name: "X-Correlation-Id".into(),
        };
        let s = RequestIdSettings::from_config(Some(&custom), false)
            .unwrap()
            .unwrap();
        assert_eq!(s.header, "x-correlation-id");
    }
}
