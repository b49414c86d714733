//! ContentType: lets the proxy set `Content-Type` from the response's first bytes when the backend
//! sent none (Traefik v3 no longer does this by default).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `contentType`. Declared empty in Traefik v3 (`contentType: {}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ContentTypeSpec {
    /// Traefik v2's option, accepted for old files: `false` disables detection (the v3 default
    /// without this middleware), unset or `true` enables it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub auto_detect: Option<bool>,
}

// ---- compiled form -------------------------------------------------------------------------

/// `contentType`, compiled. The proxy sniffs the first response bytes when the backend sent no
/// `Content-Type` and this filter is in the chain (`Filter::wants_content_sniffing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentType {
    enabled: bool,
}

impl ContentType {
    pub fn compile(spec: &ContentTypeSpec) -> Result<Self, crate::SpecError> {
        Ok(ContentType {
            enabled: spec.auto_detect != Some(false),
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sets `Content-Type` from `first_bytes` when the response has none.
    pub fn apply(&self, parts: &mut http::response::Parts, first_bytes: &[u8]) {
        if self.enabled && !parts.headers.contains_key(http::header::CONTENT_TYPE) {
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(detect(first_bytes)),
            );
        }
    }
}

/// Go's `http.DetectContentType` for the common signatures (first 512 bytes).
pub fn detect(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(512)];
    let ws = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' '))
        .unwrap_or(data.len());
    let text = &data[ws..];
    const HTML: [&[u8]; 17] = [
        b"<!DOCTYPE HTML",
        b"<HTML",
        b"<HEAD",
        b"<SCRIPT",
        b"<IFRAME",
        b"<H1",
        b"<DIV",
        b"<FONT",
        b"<TABLE",
        b"<A",
        b"<STYLE",
        b"<TITLE",
        b"<B",
        b"<BODY",
        b"<BR",
        b"<P",
        b"<!--",
    ];
    for sig in HTML {
        if text.len() > sig.len()
            && text[..sig.len()].eq_ignore_ascii_case(sig)
            && matches!(text[sig.len()], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if text.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    let exact: [(&[u8], &str); 17] = [
        (b"%PDF-", "application/pdf"),
        (b"%!PS-Adobe-", "application/postscript"),
        (b"\xFE\xFF", "text/plain; charset=utf-16be"),
        (b"\xFF\xFE", "text/plain; charset=utf-16le"),
        (b"\xEF\xBB\xBF", "text/plain; charset=utf-8"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"BM", "image/bmp"),
        (b"\x00\x00\x01\x00", "image/x-icon"),
        (b"\x1F\x8B\x08", "application/x-gzip"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x00asm", "application/wasm"),
        (b"wOFF", "font/woff"),
        (b"wOF2", "font/woff2"),
        (b"OggS\x00", "application/ogg"),
    ];
    for (sig, ct) in exact {
        if data.starts_with(sig) {
            return ct;
        }
    }
    if data.len() >= 14 && &data[..4] == b"RIFF" && &data[8..14] == b"WEBPVP" {
        return "image/webp";
    }
    if data.starts_with(b"ID3") {
        return "audio/mpeg";
    }
    let binary = data
        .iter()
        .any(|b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F));
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(detect(b"  <html><body>"), "text/html; charset=utf-8");
        assert_eq!(detect(b"<?xml version"), "text/xml; charset=utf-8");
        assert_eq!(detect(b"\x89PNG\x0D\x0A\x1A\x0A...."), "image/png");
        assert_eq!(detect(b"{\"json\": true}"), "text/plain; charset=utf-8");
        assert_eq!(detect(b"\x00\x01\x02"), "application/octet-stream");
        assert_eq!(detect(b""), "text/plain; charset=utf-8");
    }

    #[test]
    fn applies_only_without_content_type() {
        let ct = ContentType::compile(&ContentTypeSpec::default()).unwrap();
        let (mut p, ()) = http::Response::builder().body(()).unwrap().into_parts();
        ct.apply(&mut p, b"%PDF-1.4");
        assert_eq!(p.headers["content-type"], "application/pdf");
        let (mut p, ()) = http::Response::builder()
            .header("content-type", "x/y")
            .body(())
            .unwrap()
            .into_parts();
        ct.apply(&mut p, b"%PDF-1.4");
        assert_eq!(p.headers["content-type"], "x/y");
        let off = ContentType::compile(&ContentTypeSpec {
            auto_detect: Some(false),
        })
        .unwrap();
        assert!(!off.enabled());
    }
}
