//! The access log (`accessLog.*`): Traefik's Common Log Format line or its JSON object with
//! Traefik's field names, one per request, written by a dedicated writer thread. The request
//! path only applies the filters and hands the finished record to a bounded channel; a full
//! channel counts the line as dropped (`wharf_accesslog_dropped_total`) instead of waiting.
//! SIGUSR1 makes the writer reopen `filePath` (log rotation, as Traefik does).
//!
//! Where wharf differs from Traefik (on purpose):
//! - with `fields.headers.defaultMode: keep`, `Authorization`, `Proxy-Authorization`, `Cookie`
//!   and `Set-Cookie` are still redacted unless named explicitly in `fields.headers.names`;
//! - `bufferingSize` is the channel's capacity (at least 4096): a full buffer drops and counts
//!   lines, where Traefik would block requests;
//! - `StartLocal` is written in UTC (wharf reads no time-zone database);
//! - `ServiceURL`/`ServiceAddr` are not written yet (the service layer does not report the
//!   server it picked); `RequestId`, `TraceId` and `SpanId` are written when those are on.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Version};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::Finished;
use crate::config::AccessLog as AccessLogConfig;

/// Headers never written in clear unless named explicitly.
const SENSITIVE: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Smallest channel capacity (lines in flight to the writer).
const MIN_CHANNEL: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    #[error("format `{0}`: expected `common` or `json`")]
    Format(String),
    #[error("filters.statusCodes: `{0}` is not a status code or a range such as 200-299")]
    StatusCodes(String),
    #[error("fields: mode `{0}` for `{1}`: expected keep, drop or redact")]
    Mode(String, String),
    #[error("filePath `{0}`: {1}")]
    Open(String, std::io::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Keep,
    Drop,
    Redact,
}

fn mode(s: &str, what: &str) -> Result<Mode, AccessLogError> {
    match s.to_ascii_lowercase().as_str() {
        "keep" | "" => Ok(Mode::Keep),
        "drop" => Ok(Mode::Drop),
        "redact" => Ok(Mode::Redact),
        _ => Err(AccessLogError::Mode(s.into(), what.into())),
    }
}

/// The formatting half of the configuration (pure; used by the writer and by tests).
#[derive(Clone, Debug)]
pub struct Formatter {
    pub json: bool,
    field_default: Mode,
    fields: BTreeMap<String, Mode>,
    header_default: Mode,
    /// Lower-cased header name → mode.
    headers: BTreeMap<String, Mode>,
}

/// What decides whether a request is logged (`accessLog.filters`).
#[derive(Clone, Debug, Default)]
pub struct Filters {
    status: Vec<(u16, u16)>,
    retry_attempts: bool,
    min_duration: Duration,
}

impl Filters {
    /// Traefik's rule: with no filter everything is logged; otherwise a request is logged
    /// when any configured filter matches.
    pub fn keep(&self, status: u16, retries: u32, duration: Duration) -> bool {
        if self.status.is_empty() && !self.retry_attempts && self.min_duration.is_zero() {
            return true;
        }
        self.status.iter().any(|(a, b)| (*a..=*b).contains(&status))
            || (self.retry_attempts && retries > 0)
            || (!self.min_duration.is_zero() && duration > self.min_duration)
    }
}

/// Parses the configuration (no I/O).
pub fn parse(cfg: &AccessLogConfig) -> Result<(Formatter, Filters), AccessLogError> {
    let json = match cfg.format.to_ascii_lowercase().as_str() {
        "" | "common" => false,
        "json" => true,
        other => return Err(AccessLogError::Format(other.into())),
    };
    let mut filters = Filters::default();
    if let Some(f) = &cfg.filters {
        for s in &f.status_codes {
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || AccessLogError::StatusCodes(part.into());
                let (a, b) = match part.split_once('-') {
                    Some((a, b)) => (a.trim(), b.trim()),
                    None => (part, part),
                };
                let a: u16 = a.parse().map_err(|_| bad())?;
                let b: u16 = b.parse().map_err(|_| bad())?;
                if a > b || !(100..=999).contains(&a) || b > 999 {
                    return Err(bad());
                }
                filters.status.push((a, b));
            }
        }
        filters.retry_attempts = f.retry_attempts;
        filters.min_duration = f.min_duration.get();
    }
    let fields = cfg.fields.clone().unwrap_or_default();
    let headers = fields.headers.clone().unwrap_or_default();
    let mut fmt = Formatter {
        json,
        field_default: mode(&fields.default_mode, "fields.defaultMode")?,
        fields: BTreeMap::new(),
        header_default: mode(&headers.default_mode, "fields.headers.defaultMode")?,
        headers: BTreeMap::new(),
    };
    for (k, v) in &fields.names {
        fmt.fields.insert(k.clone(), mode(v, k)?);
    }
    for (k, v) in &headers.names {
        fmt.headers.insert(k.to_ascii_lowercase(), mode(v, k)?);
    }
    Ok((fmt, filters))
}

/// The running access log.
pub struct AccessLog {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    requests: AtomicU64,
    filters: Filters,
    keeps_headers: bool,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

enum Msg {
    Line(Box<Finished>),
    Reopen,
}

/// Where lines go.
enum Out {
    Stdout,
    File(PathBuf, std::io::BufWriter<std::fs::File>),
}

fn open(path: &PathBuf) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    Ok(std::io::BufWriter::with_capacity(64 * 1024, f))
}

impl AccessLog {
    /// Opens the output, starts the writer thread and (for a file) the SIGUSR1 listener.
    /// Needs a tokio runtime for the signal listener.
    pub fn start(cfg: &AccessLogConfig) -> Result<Self, AccessLogError> {
        let (fmt, filters) = parse(cfg)?;
        let out = if cfg.file_path.is_empty() {
            Out::Stdout
        } else {
            let p = PathBuf::from(&cfg.file_path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            let w = open(&p).map_err(|e| AccessLogError::Open(cfg.file_path.clone(), e))?;
            Out::File(p, w)
        };
        let cap = usize::try_from(cfg.buffering_size)
            .unwrap_or(usize::MAX)
            .clamp(MIN_CHANNEL, 1 << 20);
        let (tx, rx) = mpsc::channel(cap);
        let keeps_headers = fmt.keeps_headers();
        let is_file = matches!(out, Out::File(..));
        std::thread::Builder::new()
            .name("wharf-accesslog".into())
            .spawn(move || writer(rx, out, fmt))
            .map_err(|e| AccessLogError::Open(cfg.file_path.clone(), e))?;
        #[cfg(unix)]
        if is_file {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let tx = tx.clone();
                handle.spawn(async move {
                    use tokio::signal::unix::{signal, SignalKind};
                    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
                        tracing::warn!("access log: cannot listen for SIGUSR1; no reopen");
                        return;
                    };
                    while usr1.recv().await.is_some() {
                        if tx.send(Msg::Reopen).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
        Ok(AccessLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            requests: AtomicU64::new(0),
            filters,
            keeps_headers,
        })
    }

    /// Whether any header is written (then the proxy keeps a copy of the request headers).
    pub fn keeps_headers(&self) -> bool {
        self.keeps_headers
    }

    /// `RequestCount`: numbers every request the entry points see.
    pub(crate) fn next_request_count(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Filters and queues one record (never waits).
    pub(crate) fn log(&self, f: Finished) {
        if !self.filters.keep(f.status.as_u16(), 0, f.duration) {
            return;
        }
        if self.tx.try_send(Msg::Line(Box::new(f))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer thread: formats, writes, flushes when the channel is momentarily empty.
fn writer(mut rx: mpsc::Receiver<Msg>, mut out: Out, fmt: Formatter) {
    let mut line = String::with_capacity(1024);
    let stdout = std::io::stdout();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(f) => {
                    line.clear();
                    fmt.format(&f, SystemTime::now(), &mut line);
                    line.push('\n');
                    let r = match &mut out {
                        Out::Stdout => stdout.lock().write_all(line.as_bytes()),
                        Out::File(_, w) => w.write_all(line.as_bytes()),
                    };
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "access log write failed");
                    }
                }
                Msg::Reopen => {
                    if let Out::File(path, w) = &mut out {
                        let _ = w.flush();
                        match open(path) {
                            Ok(nw) => {
                                *w = nw;
                                tracing::info!(path = %path.display(), "access log reopened");
                            }
                            Err(e) => {
                                tracing::error!(path = %path.display(), error = %e, "access log reopen failed; keeping the old file")
                            }
                        }
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        let r = match &mut out {
            Out::Stdout => stdout.lock().flush(),
            Out::File(_, w) => w.flush(),
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "access log flush failed");
        }
    }
}

impl Formatter {
    fn keeps_headers(&self) -> bool {
        self.header_default != Mode::Drop || self.headers.values().any(|m| *m != Mode::Drop)
    }

    fn field(&self, name: &str) -> Mode {
        self.fields.get(name).copied().unwrap_or(self.field_default)
    }

    /// The mode of header `lower` (lower-cased): named, else sensitive ones are redacted when
    /// the default would keep them, else the default.
    fn header(&self, lower: &str) -> Mode {
        if let Some(m) = self.headers.get(lower) {
            return *m;
        }
        if self.header_default == Mode::Keep && SENSITIVE.contains(&lower) {
            return Mode::Redact;
        }
        self.header_default
    }

    /// One line (without the newline) for `f`, logged at `now`.
    pub fn format(&self, f: &Finished, now: SystemTime, out: &mut String) {
        let fields = self.fields_of(f);
        if self.json {
            let mut m: Map<String, Value> = fields
                .into_iter()
                .filter_map(|(k, v)| match self.field(&k) {
                    Mode::Keep => Some((k, v)),
                    Mode::Redact => Some((k, Value::from("REDACTED"))),
                    Mode::Drop => None,
                })
                .collect();
            for (prefix, h) in [
                ("request_", f.pending.request_headers.as_ref()),
                (
                    "origin_",
                    f.response_headers
                        .as_ref()
                        .filter(|_| f.origin_status.is_some()),
                ),
                ("downstream_", f.response_headers.as_ref()),
            ] {
                let Some(h) = h else { continue };
                for (name, value) in headers_of(h, prefix == "request_") {
                    let v = match self.header(name.as_str()) {
                        Mode::Drop => continue,
                        Mode::Redact => "REDACTED".to_string(),
                        Mode::Keep => value,
                    };
                    m.insert(format!("{prefix}{}", canonical(&name)), Value::from(v));
                }
            }
            m.insert("level".into(), Value::from("info"));
            m.insert("msg".into(), Value::from(""));
            m.insert("time".into(), Value::from(rfc3339(now, false)));
            out.push_str(&Value::Object(m).to_string());
        } else {
            // Traefik's CLF: dropped or missing fields print `-`.
            let get = |k: &str| -> String {
                match (self.field(k), fields.get(k)) {
                    (Mode::Drop, _) | (_, None) => "-".into(),
                    (Mode::Redact, Some(_)) => "REDACTED".into(),
                    (Mode::Keep, Some(Value::String(s))) => s.clone(),
                    (Mode::Keep, Some(v)) => v.to_string(),
                }
            };
            let header = |name: &str| -> String {
                let v = f
                    .pending
                    .request_headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .and_then(|v| v.to_str().ok());
                match (self.header(name), v) {
                    (Mode::Drop, _) | (_, None) => "-".into(),
                    (Mode::Redact, Some(_)) => "REDACTED".into(),
                    (Mode::Keep, Some(v)) => v.into(),
                }
            };
            let start = match self.field("StartLocal") {
                Mode::Drop => "-".to_string(),
                _ => clf_time(f.pending.start_time),
            };
            let dur = match self.field("Duration") {
                Mode::Drop => "-".to_string(),
                _ => format!("{}ms", f.duration.as_millis()),
            };
            let _ = write!(
                out,
                "{} - {} [{}] \"{} {} {}\" {} {} \"{}\" \"{}\" {} \"{}\" \"{}\" {}",
                get("ClientHost"),
                get("ClientUsername"),
                start,
                get("RequestMethod"),
                get("RequestPath"),
                get("RequestProtocol"),
                get("DownstreamStatus"),
                get("DownstreamContentSize"),
                header("referer"),
                header("user-agent"),
                get("RequestCount"),
                get("RouterName"),
                get("ServiceURL"),
                dur,
            );
        }
    }

    /// Every core field Traefik writes (and wharf's additions), by Traefik's names.
    fn fields_of(&self, f: &Finished) -> BTreeMap<String, Value> {
        let p = &f.pending;
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("ClientAddr", Value::from(p.client.to_string()));
        put("ClientHost", Value::from(p.client.ip().to_string()));
        put("ClientPort", Value::from(p.client.port().to_string()));
        put(
            "ClientUsername",
            Value::from(f.user.as_deref().unwrap_or("-")),
        );
        put("DownstreamContentSize", Value::from(f.content_size));
        put("DownstreamStatus", Value::from(f.status.as_u16()));
        let dur = nanos(f.duration);
        put("Duration", Value::from(dur));
        let (ocs, od, os) = match (f.origin_status, f.origin_duration) {
            (Some(s), Some(d)) => (f.content_size, nanos(d), s.as_u16()),
            _ => (0, 0, 0),
        };
        if f.origin_status.is_none() {
            put("GzipRatio", Value::from(0));
        }
        put("OriginContentSize", Value::from(ocs));
        put("OriginDuration", Value::from(od));
        put("OriginStatus", Value::from(os));
        put("Overhead", Value::from(dur.saturating_sub(od)));
        let host = p.host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or("");
        put("RequestAddr", Value::from(host));
        put("RequestContentSize", Value::from(p.request_content_size));
        put("RequestCount", Value::from(p.request_count));
        let port = crate::proxy::host_port(host);
        let bare = match port {
            Some(pt) => &host[..host.len() - pt.len() - 1],
            None => host,
        };
        put("RequestHost", Value::from(bare));
        put("RequestMethod", Value::from(p.method.as_str()));
        put(
            "RequestPath",
            Value::from(p.uri.path_and_query().map_or("/", |pq| pq.as_str())),
        );
        put("RequestPort", Value::from(port.unwrap_or("-")));
        put("RequestProtocol", Value::from(protocol(p.version)));
        put("RequestScheme", Value::from("http"));
        put("RetryAttempts", Value::from(0));
        if let Some(r) = &f.router {
            put("RouterName", Value::from(&**r));
        }
        if let Some(s) = &f.service {
            put("ServiceName", Value::from(&**s));
        }
        put("StartLocal", Value::from(rfc3339(p.start_time, true)));
        put("StartUTC", Value::from(rfc3339(p.start_time, true)));
        put("entryPointName", Value::from(&*f.entry_point));
        if let Some(id) = p.request_id.as_ref().and_then(|v| v.to_str().ok()) {
            put("RequestId", Value::from(id));
        }
        if let Some(t) = &p.trace {
            put("TraceId", Value::from(t.trace_id_hex()));
            put("SpanId", Value::from(t.span_id_hex()));
        }
        m
    }
}

/// Headers as `(lower-case name, value)` (the first value of a repeated header, as Go's
/// `Header.Get`). Left out of request headers, as Traefik never logs them: `Host` (not in Go's
/// header map), hop-by-hop headers, and X-Forwarded-For (Go's reverse proxy adds it after the
/// log captured the request).
fn headers_of(h: &HeaderMap, request: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(h.keys_len());
    for name in h.keys() {
        // Go keeps `Host` out of the header map, so Traefik never logs it.
        if request
            && matches!(
                name.as_str(),
                "x-forwarded-for"
                    | "host"
                    | "connection"
                    | "keep-alive"
                    | "proxy-connection"
                    | "te"
                    | "trailer"
                    | "transfer-encoding"
                    | "upgrade"
            )
        {
            continue;
        }
        let v = h
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        out.push((name.as_str().to_string(), v));
    }
    out
}

/// Go's canonical header form: `x-real-ip` → `X-Real-Ip`.
pub fn canonical(lower: &str) -> String {
    let mut s = String::with_capacity(lower.len());
    let mut up = true;
    for c in lower.chars() {
        if up {
            s.extend(c.to_uppercase());
        } else {
            s.push(c);
        }
        up = c == '-';
    }
    s
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
    nanos: u32,
}

fn parts(t: SystemTime) -> Parts {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, day) = civil((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Parts {
        y,
        mo,
        d: day,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
        nanos: d.subsec_nanos(),
    }
}

/// RFC 3339 in UTC; with `nanos`, Go's RFC3339Nano (trailing zeros trimmed).
pub fn rfc3339(t: SystemTime, nanos: bool) -> String {
    let p = parts(t);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    );
    if nanos && p.nanos > 0 {
        let frac = format!("{:09}", p.nanos);
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// CLF's `02/Jan/2006:15:04:05 -0700` (UTC).
pub fn clf_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(t);
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        p.d,
        MONTHS[(p.mo as usize + 11) % 12],
        p.y,
        p.h,
        p.mi,
        p.s
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::new(1_796_323_932, 502_537_000);
        assert_eq!(rfc3339(t, true), "2026-12-03T18:52:12.502537Z");
        assert_eq!(rfc3339(t, false), "2026-12-03T18:52:12Z");
        assert_eq!(clf_time(t), "03/Dec/2026:18:52:12 +0000");
        assert_eq!(rfc3339(UNIX_EPOCH, true), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(clf_time(leap), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical("x-real-ip"), "X-Real-Ip");
        assert_eq!(canonical("user-agent"), "User-Agent");
        assert_eq!(canonical("www-authenticate"), "Www-Authenticate");
    }

    #[test]
    fn filters_follow_traefik() {
        let none = Filters::default();
        assert!(none.keep(200, 0, Duration::ZERO));
        let cfg: AccessLogConfig = serde_json::from_value(serde_json::json!({
            "filters": {"statusCodes": ["200", "300-302", "500-599"], "minDuration": "10ms"}
        }))
        .unwrap();
        let (_, f) = parse(&cfg).unwrap();
        assert!(f.keep(200, 0, Duration::ZERO));
        assert!(f.keep(301, 0, Duration::ZERO));
        assert!(!f.keep(303, 0, Duration::ZERO));
        assert!(!f.keep(404, 0, Duration::from_millis(10)));
        assert!(f.keep(404, 0, Duration::from_millis(11)));
        assert!(f.keep(503, 0, Duration::ZERO));
        let bad: AccessLogConfig =
            serde_json::from_value(serde_json::json!({"filters": {"statusCodes": ["2xx"]}}))
                .unwrap();
        assert!(parse(&bad).is_err());
        let bad: AccessLogConfig =
            serde_json::from_value(serde_json::json!({"format": "xml"})).unwrap();
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn sensitive_headers_are_redacted_unless_named() {
        let cfg: AccessLogConfig = serde_json::from_value(serde_json::json!({
            "fields": {"headers": {"defaultMode": "keep", "names": {"Cookie": "keep"}}}
        }))
        .unwrap();
        let (f, _) = parse(&cfg).unwrap();
        assert_eq!(f.header("authorization"), Mode::Redact);
        assert_eq!(f.header("set-cookie"), Mode::Redact);
        assert_eq!(f.header("cookie"), Mode::Keep);
        assert_eq!(f.header("user-agent"), Mode::Keep);
        let (d, _) = parse(&AccessLogConfig::default()).unwrap();
        assert_eq!(d.header("user-agent"), Mode::Drop);
        assert!(!d.keeps_headers());
    }
}
