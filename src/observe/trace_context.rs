//! W3C Trace Context (`traceparent`): continue the client's trace or start one, and forward
//! `traceparent` for wharf's own span to the backend (`tracestate` passes through unchanged).

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The trace of one request: wharf's span within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// wharf's span (the parent of the backend's).
    pub span_id: [u8; 8],
    /// The client's span, when the request carried a valid `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    pub sampled: bool,
}

fn hex_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

fn unhex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let v = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (v(s[2 * i])? << 4) | v(s[2 * i + 1])?;
    }
    Some(out)
}

/// Parses a `traceparent` value: `(trace id, parent id, sampled)`. Follows the spec: version
/// `ff` is invalid, an all-zero id is invalid, future versions may carry more after a `-`.
pub fn parse(v: &[u8]) -> Option<([u8; 16], [u8; 8], bool)> {
    if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = unhex::<1>(&v[0..2])?[0];
    if version == 0xff || (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    let trace: [u8; 16] = unhex(&v[3..35])?;
    let parent: [u8; 8] = unhex(&v[36..52])?;
    let flags = unhex::<1>(&v[53..55])?[0];
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent, flags & 1 == 1))
}

impl TraceContext {
    /// Continues the request's trace (keeping its sampling decision) or starts a new one
    /// sampled with probability `rate`; sets `traceparent` to wharf's span for the backend.
    pub fn start(headers: &mut HeaderMap, rate: f64) -> TraceContext {
        let incoming = {
            let mut all = headers.get_all(&TRACEPARENT).iter();
            match (all.next(), all.next()) {
                (Some(v), None) => parse(v.as_bytes()),
                _ => None,
            }
        };
        let mut span_id: [u8; 8] = rand::random();
        if span_id == [0; 8] {
            span_id[7] = 1;
        }
        let ctx = match incoming {
            Some((trace_id, parent, sampled)) => TraceContext {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
                sampled,
            },
            None => {
                let mut trace_id: [u8; 16] = rand::random();
                if trace_id == [0; 16] {
                    trace_id[15] = 1;
                }
                TraceContext {
                    trace_id,
                    span_id,
                    parent_span_id: None,
                    sampled: rate >= 1.0 || (rate > 0.0 && rand::random::<f64>() < rate),
                }
            }
        };
        if incoming.is_none() {
            // A malformed or repeated traceparent is not passed on; neither is its tracestate.
            headers.remove(HeaderName::from_static("tracestate"));
        }
        headers.insert(TRACEPARENT.clone(), ctx.header());
        ctx
    }

    /// `00-<trace>-<span>-<flags>` for wharf's span.
    pub fn header(&self) -> HeaderValue {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        hex_into(&self.trace_id, &mut s);
        s.push('-');
        hex_into(&self.span_id, &mut s);
        s.push_str(if self.sampled { "-01" } else { "-00" });
        HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("-"))
    }

    pub fn trace_id_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        hex_into(&self.trace_id, &mut s);
        s
    }

    pub fn span_id_hex(&self) -> String {
        let mut s = String::with_capacity(16);
        hex_into(&self.span_id, &mut s);
        s
    }

    pub fn parent_span_id_hex(&self) -> Option<String> {
        self.parent_span_id.map(|p| {
            let mut s = String::with_capacity(16);
            hex_into(&p, &mut s);
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parse_follows_the_spec() {
        let (t, p, s) = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(t[0], 0x4b);
        assert_eq!(p[7], 0xb7);
        assert!(s);
        assert!(parse(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").is_none());
        assert!(parse(b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
        assert!(parse(b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none());
        assert!(parse(format!("{GOOD}-x").as_bytes()).is_none());
        assert!(parse(format!("01{}-future", &GOOD[2..]).as_bytes()).is_some());
        assert!(parse(b"garbage").is_none());
    }

    #[test]
    fn continues_or_starts() {
        let mut h = HeaderMap::new();
        h.insert(&TRACEPARENT, HeaderValue::from_static(GOOD));
        let c = TraceContext::start(&mut h, 0.0);
        assert_eq!(c.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.parent_span_id_hex().as_deref(), Some("00f067aa0ba902b7"));
        assert!(c.sampled, "the parent's decision wins over the rate");
        let sent = h.get(&TRACEPARENT).unwrap().to_str().unwrap().to_string();
        assert_eq!(
            sent,
            format!("00-{}-{}-01", c.trace_id_hex(), c.span_id_hex())
        );
        assert_ne!(c.span_id_hex(), "00f067aa0ba902b7");

        let mut h = HeaderMap::new();
        let c = TraceContext::start(&mut h, 0.0);
        assert!(!c.sampled);
        assert!(c.parent_span_id.is_none());
        assert!(h
            .get(&TRACEPARENT)
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-00"));
        let mut h = HeaderMap::new();
        assert!(TraceContext::start(&mut h, 1.0).sampled);
    }
}
