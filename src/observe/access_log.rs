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
//! - `RequestId` (wharf's) and `TraceId`/`SpanId` are written when those are on;
//! - Kubernetes fields (`KubernetesIngressName`...) are not written (no Kubernetes provider).
//!
//! Cost: the request path only moves the finished record (no formatting, no map); the writer
//! formats straight into one byte buffer, and sleeps between batches while lines keep coming,
//! so a busy proxy does not wake it once per request.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Version};
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
    /// Mode of each [`Field`] (configured name, else `fields.defaultMode`).
    modes: [Mode; FIELDS.len()],
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
    let field_default = mode(&fields.default_mode, "fields.defaultMode")?;
    let mut fmt = Formatter {
        json,
        modes: [field_default; FIELDS.len()],
        header_default: mode(&headers.default_mode, "fields.headers.defaultMode")?,
        headers: BTreeMap::new(),
    };
    for (k, v) in &fields.names {
        let m = mode(v, k)?;
        // Names Traefik does not know are ignored, as Traefik does.
        if let Some((f, _)) = FIELDS.iter().find(|(_, n)| n == k) {
            fmt.modes[*f as usize] = m;
        }
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

// The record travels by value: the channel's slots are allocated in blocks, so boxing it would
// add one allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Line(Finished),
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
        if !self.filters.keep(f.status.as_u16(), f.retries, f.duration) {
            return;
        }
        if self.tx.try_send(Msg::Line(f)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long the writer sleeps between batches while lines keep coming: under load the request
/// path never wakes it (no futex per line); idle, it parks until the next line.
const BATCH_PAUSE: Duration = Duration::from_millis(5);

/// The writer thread: formats, writes, flushes when a batch is done.
fn writer(mut rx: mpsc::Receiver<Msg>, mut out: Out, fmt: Formatter) {
    let mut line: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut scratch = Scratch::default();
    let stdout = std::io::stdout();
    let mut next = rx.blocking_recv();
    while let Some(first) = next.take() {
        let mut msg = Some(first);
        let mut busy = false;
        while let Some(m) = msg.take() {
            match m {
                Msg::Line(f) => {
                    busy = true;
                    fmt.write(&f, SystemTime::now(), &mut line, &mut scratch);
                    line.push(b'\n');
                    if line.len() >= 60 * 1024 {
                        write_out(&mut out, &stdout, &mut line);
                    }
                }
                Msg::Reopen => {
                    write_out(&mut out, &stdout, &mut line);
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
            msg = rx.try_recv().ok();
        }
        write_out(&mut out, &stdout, &mut line);
        let r = match &mut out {
            Out::Stdout => stdout.lock().flush(),
            Out::File(_, w) => w.flush(),
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "access log flush failed");
        }
        next = if busy {
            // Lines were flowing: pause, then take what queued meanwhile (or park).
            std::thread::sleep(BATCH_PAUSE);
            match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::error::TryRecvError::Empty) => rx.blocking_recv(),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            }
        } else {
            rx.blocking_recv()
        };
    }
}

fn write_out(out: &mut Out, stdout: &std::io::Stdout, line: &mut Vec<u8>) {
    if line.is_empty() {
        return;
    }
    let r = match out {
        Out::Stdout => stdout.lock().write_all(line),
        Out::File(_, w) => w.write_all(line),
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "access log write failed");
    }
    line.clear();
}

/// Every core field, by Traefik's name, in the byte order of their names (Go's JSON encoder
/// writes map keys sorted; the writer follows this order without sorting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    ClientAddr,
    ClientHost,
    ClientPort,
    ClientUsername,
    DownstreamContentSize,
    DownstreamStatus,
    Duration,
    GzipRatio,
    OriginContentSize,
    OriginDuration,
    OriginStatus,
    Overhead,
    RequestAddr,
    RequestContentSize,
    RequestCount,
    RequestHost,
    RequestId,
    RequestMethod,
    RequestPath,
    RequestPort,
    RequestProtocol,
    RequestScheme,
    RetryAttempts,
    RouterName,
    ServiceAddr,
    ServiceName,
    ServiceURL,
    SpanId,
    StartLocal,
    StartUTC,
    TLSCipher,
    TLSClientSubject,
    TLSVersion,
    TraceId,
    EntryPointName,
}

/// `(field, name)` in name order (a unit test checks the order).
pub const FIELDS: [(Field, &str); 35] = [
    (Field::ClientAddr, "ClientAddr"),
    (Field::ClientHost, "ClientHost"),
    (Field::ClientPort, "ClientPort"),
    (Field::ClientUsername, "ClientUsername"),
    (Field::DownstreamContentSize, "DownstreamContentSize"),
    (Field::DownstreamStatus, "DownstreamStatus"),
    (Field::Duration, "Duration"),
    (Field::GzipRatio, "GzipRatio"),
    (Field::OriginContentSize, "OriginContentSize"),
    (Field::OriginDuration, "OriginDuration"),
    (Field::OriginStatus, "OriginStatus"),
    (Field::Overhead, "Overhead"),
    (Field::RequestAddr, "RequestAddr"),
    (Field::RequestContentSize, "RequestContentSize"),
    (Field::RequestCount, "RequestCount"),
    (Field::RequestHost, "RequestHost"),
    (Field::RequestId, "RequestId"),
    (Field::RequestMethod, "RequestMethod"),
    (Field::RequestPath, "RequestPath"),
    (Field::RequestPort, "RequestPort"),
    (Field::RequestProtocol, "RequestProtocol"),
    (Field::RequestScheme, "RequestScheme"),
    (Field::RetryAttempts, "RetryAttempts"),
    (Field::RouterName, "RouterName"),
    (Field::ServiceAddr, "ServiceAddr"),
    (Field::ServiceName, "ServiceName"),
    (Field::ServiceURL, "ServiceURL"),
    (Field::SpanId, "SpanId"),
    (Field::StartLocal, "StartLocal"),
    (Field::StartUTC, "StartUTC"),
    (Field::TLSCipher, "TLSCipher"),
    (Field::TLSClientSubject, "TLSClientSubject"),
    (Field::TLSVersion, "TLSVersion"),
    (Field::TraceId, "TraceId"),
    (Field::EntryPointName, "entryPointName"),
];

/// One field's value, borrowed from the record where possible (no map, no `String` per field).
enum Val<'a> {
    Str(&'a str),
    Num(u64),
    /// Go writes `GzipRatio` as a float.
    Zero,
    Addr(std::net::SocketAddr),
    Ip(std::net::IpAddr),
    Port(u16),
    /// RFC 3339 with nanoseconds.
    Time(SystemTime),
    Owned(String),
}

impl Val<'_> {
    fn write(&self, out: &mut Vec<u8>, json: bool) {
        let quote = json && !matches!(self, Val::Num(_) | Val::Zero);
        if quote {
            out.push(b'"');
        }
        match self {
            Val::Str(s) if json => json_escape(out, s),
            Val::Str(s) => out.extend_from_slice(s.as_bytes()),
            Val::Owned(s) if json => json_escape(out, s),
            Val::Owned(s) => out.extend_from_slice(s.as_bytes()),
            Val::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Val::Zero => out.push(b'0'),
            Val::Addr(a) => {
                let _ = write!(out, "{a}");
            }
            Val::Ip(a) => {
                let _ = write!(out, "{a}");
            }
            Val::Port(p) => {
                let _ = write!(out, "{p}");
            }
            Val::Time(t) => write_rfc3339(out, *t, true),
        }
        if quote {
            out.push(b'"');
        }
    }
}

/// A JSON string body as Go's encoder writes it (HTML-safe: `<`, `>`, `&` escaped too).
fn json_escape(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    let b = s.as_bytes();
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            _ => None,
        };
        let special = esc.is_some()
            || (c as u32) < 0x20
            || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        if !special {
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let u = c as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((u >> shift) & 0xf) as usize]);
                }
            }
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&b[start..]);
}

/// Reused buffers of the writer thread: canonical header names of one prefix, end to end, and
/// their ranges (sorted before writing), so writing headers allocates nothing per header.
#[derive(Default)]
pub struct Scratch {
    names: String,
    ranges: Vec<(usize, usize, usize)>,
}

impl Formatter {
    fn keeps_headers(&self) -> bool {
        self.header_default != Mode::Drop || self.headers.values().any(|m| *m != Mode::Drop)
    }

    fn field(&self, f: Field) -> Mode {
        self.modes[f as usize]
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

    /// One line (without the newline) for `f`, logged at `now` (tests and tools; the writer
    /// uses [`Formatter::write`]).
    pub fn format(&self, f: &Finished, now: SystemTime, out: &mut String) {
        let mut buf = Vec::with_capacity(1024);
        self.write(f, now, &mut buf, &mut Scratch::default());
        out.push_str(&String::from_utf8_lossy(&buf));
    }

    /// Appends one line (without the newline) for `f`, logged at `now`.
    pub fn write(&self, f: &Finished, now: SystemTime, out: &mut Vec<u8>, scratch: &mut Scratch) {
        if self.json {
            self.write_json(f, now, out, scratch);
        } else {
            self.write_clf(f, out);
        }
    }

    fn write_json(&self, f: &Finished, now: SystemTime, out: &mut Vec<u8>, scratch: &mut Scratch) {
        out.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, prefix: &str, k: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(prefix.as_bytes());
            json_escape(out, k);
            out.extend_from_slice(b"\":");
        };
        // Upper-case core fields sort before every lower-case key.
        for (field, name) in FIELDS.iter().take(FIELDS.len() - 1) {
            self.json_field(f, *field, name, out, &mut key);
        }
        let origin_headers = f
            .response_headers
            .as_ref()
            .filter(|_| f.origin_status.is_some());
        self.json_headers(
            "downstream_",
            f.response_headers.as_ref(),
            false,
            out,
            scratch,
            &mut key,
        );
        self.json_field(f, Field::EntryPointName, "entryPointName", out, &mut key);
        key(out, "", "level");
        out.extend_from_slice(b"\"info\"");
        key(out, "", "msg");
        out.extend_from_slice(b"\"\"");
        self.json_headers("origin_", origin_headers, false, out, scratch, &mut key);
        self.json_headers(
            "request_",
            f.pending.request_headers.as_ref(),
            true,
            out,
            scratch,
            &mut key,
        );
        key(out, "", "time");
        out.push(b'"');
        write_rfc3339(out, now, false);
        out.push(b'"');
        out.push(b'}');
    }

    fn json_field(
        &self,
        f: &Finished,
        field: Field,
        name: &str,
        out: &mut Vec<u8>,
        key: &mut impl FnMut(&mut Vec<u8>, &str, &str),
    ) {
        let mode = self.field(field);
        if mode == Mode::Drop {
            return;
        }
        let Some(v) = value(f, field) else { return };
        key(out, "", name);
        match mode {
            Mode::Redact => out.extend_from_slice(b"\"REDACTED\""),
            _ => v.write(out, true),
        }
    }

    fn json_headers(
        &self,
        prefix: &str,
        h: Option<&HeaderMap>,
        request: bool,
        out: &mut Vec<u8>,
        scratch: &mut Scratch,
        key: &mut impl FnMut(&mut Vec<u8>, &str, &str),
    ) {
        let Some(h) = h else { return };
        scratch.names.clear();
        scratch.ranges.clear();
        // `iter` yields every value, a name's values one after another: keep the first (Go's
        // `Header.Get`).
        let mut last: Option<&http::HeaderName> = None;
        let values: Vec<(&http::HeaderName, &http::HeaderValue)> = h.iter().collect();
        for (i, (name, _)) in values.iter().enumerate() {
            if last == Some(*name) {
                continue;
            }
            last = Some(*name);
            let lower = name.as_str();
            if request && NOT_LOGGED_REQUEST.contains(&lower) {
                continue;
            }
            if self.header(lower) == Mode::Drop {
                continue;
            }
            let start = scratch.names.len();
            canonical_into(lower, &mut scratch.names);
            scratch.ranges.push((start, scratch.names.len(), i));
        }
        let names = &scratch.names;
        scratch
            .ranges
            .sort_unstable_by(|a, b| names[a.0..a.1].cmp(&names[b.0..b.1]));
        for &(start, end, i) in &scratch.ranges {
            let (name, value) = values[i];
            key(out, prefix, &names[start..end]);
            out.push(b'"');
            match self.header(name.as_str()) {
                Mode::Redact => out.extend_from_slice(b"REDACTED"),
                _ => match value.to_str() {
                    Ok(v) => json_escape(out, v),
                    Err(_) => json_escape(out, &String::from_utf8_lossy(value.as_bytes())),
                },
            }
            out.push(b'"');
        }
    }

    /// Traefik's CLF: dropped or missing fields print `-`.
    fn write_clf(&self, f: &Finished, out: &mut Vec<u8>) {
        let field = |out: &mut Vec<u8>, fl: Field| match (self.field(fl), value(f, fl)) {
            (Mode::Drop, _) | (_, None) => out.push(b'-'),
            (Mode::Redact, Some(_)) => out.extend_from_slice(b"REDACTED"),
            (Mode::Keep, Some(v)) => v.write(out, false),
        };
        let header = |out: &mut Vec<u8>, name: &str| {
            let v = f
                .pending
                .request_headers
                .as_ref()
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok());
            match (self.header(name), v) {
                (Mode::Drop, _) | (_, None) => out.push(b'-'),
                (Mode::Redact, Some(_)) => out.extend_from_slice(b"REDACTED"),
                (Mode::Keep, Some(v)) => out.extend_from_slice(v.as_bytes()),
            }
        };
        field(out, Field::ClientHost);
        out.extend_from_slice(b" - ");
        field(out, Field::ClientUsername);
        out.extend_from_slice(b" [");
        match self.field(Field::StartLocal) {
            Mode::Drop => out.push(b'-'),
            _ => write_clf_time(out, f.pending.start_time),
        }
        out.extend_from_slice(b"] \"");
        field(out, Field::RequestMethod);
        out.push(b' ');
        field(out, Field::RequestPath);
        out.push(b' ');
        field(out, Field::RequestProtocol);
        out.extend_from_slice(b"\" ");
        field(out, Field::DownstreamStatus);
        out.push(b' ');
        field(out, Field::DownstreamContentSize);
        out.extend_from_slice(b" \"");
        header(out, "referer");
        out.extend_from_slice(b"\" \"");
        header(out, "user-agent");
        out.extend_from_slice(b"\" ");
        field(out, Field::RequestCount);
        out.extend_from_slice(b" \"");
        field(out, Field::RouterName);
        out.extend_from_slice(b"\" \"");
        field(out, Field::ServiceURL);
        out.extend_from_slice(b"\" ");
        match self.field(Field::Duration) {
            Mode::Drop => out.push(b'-'),
            _ => {
                let _ = write!(out, "{}ms", f.duration.as_millis());
            }
        }
    }
}

/// Request headers Traefik never logs: `Host` (not in Go's header map), hop-by-hop headers,
/// and X-Forwarded-For (Go's reverse proxy adds it after the log captured the request).
const NOT_LOGGED_REQUEST: [&str; 9] = [
    "x-forwarded-for",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The value of `field` for `f` (`None`: Traefik leaves the field out).
fn value(f: &Finished, field: Field) -> Option<Val<'_>> {
    let p = &f.pending;
    let origin = match (f.origin_status, f.origin_duration) {
        (Some(s), Some(d)) => Some((s, d)),
        _ => None,
    };
    let host: &str = p.host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or("");
    Some(match field {
        Field::ClientAddr => Val::Addr(p.client),
        Field::ClientHost => Val::Ip(p.client.ip()),
        Field::ClientPort => Val::Port(p.client.port()),
        Field::ClientUsername => Val::Str(f.user.as_deref().unwrap_or("-")),
        Field::DownstreamContentSize => Val::Num(f.content_size),
        Field::DownstreamStatus => Val::Num(u64::from(f.status.as_u16())),
        Field::Duration => Val::Num(nanos(f.duration)),
        Field::GzipRatio if origin.is_none() => Val::Zero,
        Field::GzipRatio => return None,
        Field::OriginContentSize => Val::Num(origin.map_or(0, |_| f.content_size)),
        Field::OriginDuration => Val::Num(origin.map_or(0, |(_, d)| nanos(d))),
        Field::OriginStatus => Val::Num(origin.map_or(0, |(s, _)| u64::from(s.as_u16()))),
        Field::Overhead => {
            Val::Num(nanos(f.duration).saturating_sub(origin.map_or(0, |(_, d)| nanos(d))))
        }
        Field::RequestAddr => Val::Str(host),
        Field::RequestContentSize => Val::Num(p.request_content_size),
        Field::RequestCount => Val::Num(p.request_count),
        Field::RequestHost => Val::Str(match crate::proxy::host_port(host) {
            Some(pt) => &host[..host.len() - pt.len() - 1],
            None => host,
        }),
        Field::RequestId => Val::Str(p.request_id.as_ref().and_then(|v| v.to_str().ok())?),
        Field::RequestMethod => Val::Str(p.method.as_str()),
        Field::RequestPath => Val::Str(p.uri.path_and_query().map_or("/", |pq| pq.as_str())),
        Field::RequestPort => Val::Str(crate::proxy::host_port(host).unwrap_or("-")),
        Field::RequestProtocol => Val::Str(protocol(p.version)),
        Field::RequestScheme => Val::Str(if p.tls.is_some() { "https" } else { "http" }),
        Field::RetryAttempts => Val::Num(u64::from(f.retries)),
        Field::RouterName => Val::Str(f.router.as_deref()?),
        Field::ServiceAddr => Val::Str(service_addr(f.server_url.as_deref()?)),
        Field::ServiceName => Val::Str(f.service.as_deref()?),
        Field::ServiceURL => Val::Str(f.server_url.as_deref()?),
        Field::SpanId => Val::Owned(p.trace.as_ref()?.span_id_hex()),
        Field::StartLocal | Field::StartUTC => Val::Time(p.start_time),
        Field::TLSCipher => Val::Str(p.tls.as_ref()?.cipher?),
        Field::TLSClientSubject => Val::Owned(client_subject(p.tls.as_ref()?)?),
        Field::TLSVersion => Val::Str(match p.tls.as_ref()?.version? {
            "TLSv1_3" => "1.3",
            "TLSv1_2" => "1.2",
            other => other,
        }),
        Field::TraceId => Val::Owned(p.trace.as_ref()?.trace_id_hex()),
        Field::EntryPointName => Val::Str(&f.entry_point),
    })
}

/// `ServiceAddr`: the host (and port, when the URL names one) of the server URL, as Go's
/// `url.URL.Host`.
fn service_addr(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// `TLSClientSubject`: the client certificate's subject as Go's `pkix.Name.String()` writes it
/// (RDNs last to first, `CN=a,O=b`).
fn client_subject(tls: &crate::tls::TlsConnInfo) -> Option<String> {
    use x509_parser::prelude::*;
    let leaf = tls.peer_certificates.as_ref()?.first()?;
    let (_, cert) = parse_x509_certificate(leaf.as_ref()).ok()?;
    let mut parts: Vec<String> = Vec::new();
    for rdn in cert.subject().iter() {
        for atv in rdn.iter() {
            let oid = atv.attr_type().to_id_string();
            let key = match oid.as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.6" => "C",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.9" => "STREET",
                "2.5.4.10" => "O",
                "2.5.4.11" => "OU",
                "2.5.4.5" => "SERIALNUMBER",
                "2.5.4.17" => "POSTALCODE",
                _ => "",
            };
            let value = atv.as_str().unwrap_or("");
            if key.is_empty() {
                parts.push(format!("{oid}={value}"));
            } else {
                parts.push(format!("{key}={value}"));
            }
        }
    }
    parts.reverse();
    Some(parts.join(","))
}

/// Go's canonical header form: `x-real-ip` → `X-Real-Ip`.
pub fn canonical(lower: &str) -> String {
    let mut s = String::with_capacity(lower.len());
    canonical_into(lower, &mut s);
    s
}

fn canonical_into(lower: &str, s: &mut String) {
    // Header names are ASCII (`http::HeaderName` guarantees it).
    let mut up = true;
    for c in lower.chars() {
        s.push(if up { c.to_ascii_uppercase() } else { c });
        up = c == '-';
    }
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
    let mut v = Vec::with_capacity(32);
    write_rfc3339(&mut v, t, nanos);
    String::from_utf8_lossy(&v).into_owned()
}

fn write_rfc3339(out: &mut Vec<u8>, t: SystemTime, nanos: bool) {
    let p = parts(t);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    );
    if nanos && p.nanos > 0 {
        let mut n = p.nanos;
        let mut digits = 9;
        while n.is_multiple_of(10) {
            n /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{n:0digits$}");
    }
    out.push(b'Z');
}

/// CLF's `02/Jan/2006:15:04:05 -0700` (UTC).
pub fn clf_time(t: SystemTime) -> String {
    let mut v = Vec::with_capacity(32);
    write_clf_time(&mut v, t);
    String::from_utf8_lossy(&v).into_owned()
}

fn write_clf_time(out: &mut Vec<u8>, t: SystemTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(t);
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        p.d,
        MONTHS[(p.mo as usize + 11) % 12],
        p.y,
        p.h,
        p.mi,
        p.s
    );
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
    fn fields_are_in_name_order() {
        for (i, (f, _)) in FIELDS.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
        assert!(FIELDS.windows(2).all(|w| w[0].1 < w[1].1));
        assert_eq!(service_addr("http://10.0.0.1:8080/x"), "10.0.0.1:8080");
        assert_eq!(service_addr("https://u:p@backend"), "backend");
        let mut v = Vec::new();
        json_escape(&mut v, "a\"<b>&\n\u{1}");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#"a\"\u003cb\u003e\u0026\n\u0001"#
        );
    }

    /// A record with every field set (TLS with a client certificate, trace, request ID,
    /// retries, the picked server).
    fn full_record() -> Finished {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["client.test".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client-1");
        let cert = params.self_signed(&key).unwrap();
        let tls = crate::tls::TlsConnInfo {
            sni: Some(Arc::from("a.test")),
            alpn: None,
            peer_certificates: Some(Arc::from(vec![cert.der().clone()])),
            version: Some("TLSv1_3"),
            cipher: Some("TLS_AES_128_GCM_SHA256"),
            options: Arc::from("default"),
        };
        let mut req_headers = HeaderMap::new();
        req_headers.insert("user-agent", "ua/1".parse().unwrap());
        req_headers.insert("authorization", "Basic eA==".parse().unwrap());
        req_headers.insert("x-forwarded-for", "1.2.3.4".parse().unwrap());
        let mut resp_headers = HeaderMap::new();
        resp_headers.insert("content-type", "text/<plain>".parse().unwrap());
        let start_time = UNIX_EPOCH + Duration::new(1_796_323_932, 502_537_000);
        Finished {
            user: Some(Arc::from("alice")),
            pending: Box::new(super::super::Pending {
                start: std::time::Instant::now(),
                start_time,
                method: http::Method::POST,
                uri: "/p?q=1".parse().unwrap(),
                version: Version::HTTP_11,
                host: Some(http::HeaderValue::from_static("a.test:8443")),
                client: "10.1.2.3:40000".parse().unwrap(),
                tls: Some(Arc::new(tls)),
                request_headers: Some(req_headers),
                request_content_size: 7,
                request_id: Some(http::HeaderValue::from_static("rid-1")),
                trace: Some(crate::observe::TraceContext {
                    trace_id: [0xab; 16],
                    span_id: [0xcd; 8],
                    parent_span_id: None,
                    sampled: true,
                }),
                request_count: 42,
                header_labels: 0,
                websocket: false,
                sse: false,
            }),
            entry_point: Arc::from("websecure"),
            router: Some(Arc::from("r@file")),
            service: Some(Arc::from("s@file")),
            status: http::StatusCode::CREATED,
            origin_status: Some(http::StatusCode::CREATED),
            origin_duration: Some(Duration::from_nanos(1_000)),
            server_url: Some(Arc::from("http://10.0.0.9:8080")),
            retries: 2,
            response_headers: Some(resp_headers),
            content_size: 11,
            duration: Duration::from_nanos(5_000),
        }
    }

    #[test]
    fn json_line_has_every_field_in_key_order() {
        let cfg: AccessLogConfig = serde_json::from_value(serde_json::json!({
            "format": "json",
            "fields": {"headers": {"defaultMode": "keep"}}
        }))
        .unwrap();
        let (fmt, _) = parse(&cfg).unwrap();
        let f = full_record();
        let mut line = String::new();
        fmt.format(
            &f,
            UNIX_EPOCH + Duration::from_secs(1_796_323_940),
            &mut line,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let want = serde_json::json!({
            "ClientAddr": "10.1.2.3:40000",
            "ClientHost": "10.1.2.3",
            "ClientPort": "40000",
            "ClientUsername": "alice",
            "DownstreamContentSize": 11,
            "DownstreamStatus": 201,
            "Duration": 5000,
            "OriginContentSize": 11,
            "OriginDuration": 1000,
            "OriginStatus": 201,
            "Overhead": 4000,
            "RequestAddr": "a.test:8443",
            "RequestContentSize": 7,
            "RequestCount": 42,
            "RequestHost": "a.test",
            "RequestId": "rid-1",
            "RequestMethod": "POST",
            "RequestPath": "/p?q=1",
            "RequestPort": "8443",
            "RequestProtocol": "HTTP/1.1",
            "RequestScheme": "https",
            "RetryAttempts": 2,
            "RouterName": "r@file",
            "ServiceAddr": "10.0.0.9:8080",
            "ServiceName": "s@file",
            "ServiceURL": "http://10.0.0.9:8080",
            "SpanId": "cdcdcdcdcdcdcdcd",
            "StartLocal": "2026-12-03T18:52:12.502537Z",
            "StartUTC": "2026-12-03T18:52:12.502537Z",
            "TLSCipher": "TLS_AES_128_GCM_SHA256",
            "TLSClientSubject": "CN=client-1,O=Acme",
            "TLSVersion": "1.3",
            "TraceId": "abababababababababababababababab",
            "downstream_Content-Type": "text/<plain>",
            "entryPointName": "websecure",
            "level": "info",
            "msg": "",
            "origin_Content-Type": "text/<plain>",
            "request_Authorization": "REDACTED",
            "request_User-Agent": "ua/1",
            "time": "2026-12-03T18:52:20Z",
        });
        assert_eq!(v, want, "{line}");
        // Keys in byte order (as Go writes a map), HTML characters escaped as Go does.
        let keys: Vec<&str> = line
            .split("\",\"")
            .filter_map(|p| p.split("\":").next())
            .collect();
        assert!(line.starts_with("{\"ClientAddr\":"), "{line}");
        assert!(line.contains(r#""text/\u003cplain\u003e""#), "{line}");
        assert!(!keys.is_empty());
        let obj_keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        let mut positions: Vec<usize> = obj_keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        let sorted = positions.clone();
        positions.sort();
        assert_eq!(positions, sorted, "keys not in order: {line}");

        // Modes: a dropped field is absent, a redacted one says so.
        let cfg: AccessLogConfig = serde_json::from_value(serde_json::json!({
            "format": "json",
            "fields": {"defaultMode": "keep", "names": {"ClientUsername": "drop", "ServiceURL": "redact"}}
        }))
        .unwrap();
        let (fmt, _) = parse(&cfg).unwrap();
        let mut line = String::new();
        fmt.format(&f, SystemTime::now(), &mut line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("ClientUsername").is_none());
        assert_eq!(v["ServiceURL"], "REDACTED");
        assert!(
            v.get("request_User-Agent").is_none(),
            "headers dropped by default"
        );
    }

    #[test]
    fn clf_line_shape() {
        let (fmt, _) = parse(&AccessLogConfig::default()).unwrap();
        let mut f = full_record();
        f.duration = Duration::from_millis(12);
        let mut line = String::new();
        fmt.format(&f, SystemTime::now(), &mut line);
        assert_eq!(
            line,
            "10.1.2.3 - alice [03/Dec/2026:18:52:12 +0000] \"POST /p?q=1 HTTP/1.1\" 201 11 \"-\" \"-\" 42 \"r@file\" \"http://10.0.0.9:8080\" 12ms"
        );
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
