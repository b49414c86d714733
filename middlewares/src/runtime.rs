//! The compiled side: `compile` turns a `MiddlewareSpec` into a `Filter`; the proxy walks a
//! router's `[Filter]` with `run_request` / `run_response` (synchronous, no boxed future and no
//! allocation per middleware). The await points are the caller's: `ChainOutcome::Delay`
//! (RateLimit) and `ChainOutcome::Call` (ForwardAuth), after which it resumes the chain.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bytes::Bytes;
use http::{request, response, HeaderValue, Response};

use crate::state::StateRegistry;
use crate::{MiddlewareKind, MiddlewareSpec, SpecError};

pub use crate::add_prefix::AddPrefix;
pub use crate::api_key::ApiKey;
pub use crate::backends::{Backends, SharedStore, StoreError};
pub use crate::basic_auth::BasicAuth;
pub use crate::buffering::BufferingPolicy;
pub use crate::circuit_breaker::CircuitBreaker;
pub use crate::compress::CompressPolicy;
pub use crate::content_type::ContentType;
pub use crate::digest_auth::DigestAuth;
pub use crate::encoded_characters::EncodedCharacters;
pub use crate::errors::ErrorPages;
pub use crate::forward_auth::ForwardAuth;
pub use crate::grpc_web::{GrpcWeb, GrpcWebExchange};
pub use crate::headers::Headers;
pub use crate::in_flight_req::{InFlightGuard, InFlightReq};
pub use crate::ip_allow_list::IpAllowList;
pub use crate::jwt::Jwt;
pub use crate::pass_tls_client_cert::{ClientCertChain, PassTlsClientCert};
pub use crate::quota::Quota;
pub use crate::rate_limit::RateLimit;
pub use crate::redirect_regex::RedirectRegex;
pub use crate::redirect_scheme::RedirectScheme;
pub use crate::replace_path::ReplacePath;
pub use crate::replace_path_regex::ReplacePathRegex;
pub use crate::retry::RetryPolicy;
pub use crate::strip_prefix::StripPrefix;
pub use crate::strip_prefix_regex::StripPrefixRegex;

/// What a filter decided about a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Go on with the next filter (or the service).
    Continue,
    /// Answer the client with this response; later filters and the service are skipped, and
    /// the response phase runs for the filters before this one.
    Respond(Response<Bytes>),
    /// Wait this long, then go on (RateLimit smooths bursts by delaying up to 1/(2·rate), as
    /// Traefik sleeps). The caller awaits a timer and resumes the chain after this filter.
    Delay(StdDuration),
    /// Send this request (ForwardAuth's call to the auth server), then hand the answer to
    /// `Filter::on_call_response` of the same filter, and go on as it says.
    Call(Box<request::Parts>),
    /// Await this future (a shared-store check: Redis-backed rateLimit or quota), then act on
    /// the action it yields (never another `Await`). The future bounds its own time.
    Await(Pending),
}

/// A boxed future yielding the filter's decision (`Action::Await`). Boxed once per check that
/// needs the network; purely local filters never build one.
pub struct Pending(pub std::pin::Pin<Box<dyn std::future::Future<Output = Awaited> + Send>>);

/// What an awaited check decided: the action, and `X-RateLimit-*` values for the response.
#[derive(Debug)]
pub struct Awaited {
    pub action: Action,
    pub rate: Option<RateHeaders>,
}

impl Pending {
    /// Awaits the check and records its rate headers in `flow`; never yields `Await`.
    pub async fn settle(self, flow: &mut FlowState) -> Action {
        let done = self.0.await;
        if let Some(r) = done.rate {
            flow.note_rate(r);
        }
        match done.action {
            Action::Await(_) => Action::Respond(crate::util::status_text(
                http::StatusCode::INTERNAL_SERVER_ERROR,
            )),
            other => other,
        }
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending(..)")
    }
}

/// Facts about the client connection the filters need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The peer address of the TCP connection (after PROXY protocol, if any).
    pub remote_ip: IpAddr,
    /// The request arrived over TLS.
    pub tls: bool,
}

/// Per-request scratch space carried from the request phase to the response phase.
/// `Default` costs nothing; it allocates only when an InFlightReq guard is stored.
#[derive(Debug, Default)]
pub struct FlowState {
    /// The request's `Origin`, kept for CORS response headers.
    pub(crate) origin: Option<HeaderValue>,
    /// Bit i: the Headers filter at chain position i saw an HTTPS request (TLS or
    /// `sslProxyHeaders`), for STS and HPKP.
    pub(crate) ssl: u64,
    /// In-flight slots, released when the request (and this state) ends.
    pub(crate) guards: Vec<InFlightGuard>,
    /// The user an auth filter authenticated (for the access log).
    pub user: Option<Arc<str>>,
    /// A Headers middleware set `X-Forwarded-For: ""`: the proxy must not add X-Forwarded-For
    /// when forwarding (Traefik's behaviour for that setting).
    pub suppress_forwarded_for: bool,
    /// The consumer a `jwt` (consumer claim) or `apiKey` filter identified, for
    /// `rateLimit.sourceCriterion.consumer`.
    pub consumer: Option<Arc<str>>,
    /// Cookies a ForwardAuth server set that go to the client (`addAuthCookiesToResponse`).
    pub(crate) auth_cookies: Vec<HeaderValue>,
    /// Two bits per chain position (< 64): the coding the Compress filter there negotiated
    /// (`Encoding::code`), 0 for none. Read by the proxy with `compress_choice`.
    pub(crate) compress: u128,
    /// A GrpcWeb filter translated this request: the proxy translates the bodies.
    pub grpc_web: Option<crate::grpc_web::GrpcWebExchange>,
    /// GrpcWeb's CORS decision for the answer: `Some(None)`: only `Vary: Origin`;
    /// `Some(Some(origin))`: also the allowed origin with credentials.
    pub(crate) grpc_web_cors: Option<Option<HeaderValue>>,
    /// `X-RateLimit-*` values for the response (quota, or rateLimit with `rateLimitHeaders`):
    /// the most restrictive (fewest remaining) of the chain's limits.
    pub rate_headers: Option<RateHeaders>,
}

impl FlowState {
    /// The coding the Compress filter at chain position `index` negotiated in the request
    /// phase (`None`: leave the response alone, without `Vary`).
    pub fn compress_choice(&self, index: usize) -> Option<crate::compress::Encoding> {
        if index >= 64 {
            return None;
        }
        crate::compress::Encoding::from_code(((self.compress >> (2 * index)) & 0b11) as u8)
    }

    fn set_compress_choice(&mut self, index: usize, enc: Option<crate::compress::Encoding>) {
        if index < 64 {
            let shift = 2 * index;
            self.compress &= !(0b11u128 << shift);
            self.compress |= u128::from(enc.map_or(0, |e| e.code())) << shift;
        }
    }
}

/// Values of `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

impl FlowState {
    /// Records a limit's state; keeps the one with the fewest remaining requests.
    pub fn note_rate(&mut self, h: RateHeaders) {
        match self.rate_headers {
            Some(old) if old.remaining <= h.remaining => {}
            _ => self.rate_headers = Some(h),
        }
    }
}

/// Writes the `X-RateLimit-*` headers.
pub fn put_rate_headers(headers: &mut http::HeaderMap, h: RateHeaders) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(h.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(h.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(h.reset));
}

/// One compiled middleware. Variants exist only for middlewares wharf implements; the others
/// fail in `compile` with `SpecError::NotSupportedYet`.
#[derive(Debug)]
pub enum Filter {
    AddPrefix(AddPrefix),
    ApiKey(Box<ApiKey>),
    Jwt(Box<Jwt>),
    BasicAuth(Box<BasicAuth>),
    /// Body buffering by the proxy (`ProxySupport::buffering`); no request-phase effect here.
    Buffering(Box<BufferingPolicy>),
    CircuitBreaker(Box<CircuitBreaker>),
    /// Response compression by the proxy (`ProxySupport::compress`).
    Compress(Box<CompressPolicy>),
    ContentType(ContentType),
    DigestAuth(Box<DigestAuth>),
    EncodedCharacters(EncodedCharacters),
    /// Error pages fetched by the proxy (`ProxySupport::errors`).
    Errors(Box<ErrorPages>),
    ForwardAuth(Box<ForwardAuth>),
    GrpcWeb(Box<GrpcWeb>),
    Headers(Box<Headers>),
    IpAllowList(IpAllowList),
    InFlightReq(InFlightReq),
    PassTlsClientCert(Box<PassTlsClientCert>),
    Quota(Box<Quota>),
    RateLimit(RateLimit),
    RedirectRegex(RedirectRegex),
    RedirectScheme(RedirectScheme),
    ReplacePath(ReplacePath),
    ReplacePathRegex(ReplacePathRegex),
    /// Retries run by the proxy's service call (`ProxySupport::retry`).
    Retry(RetryPolicy),
    StripPrefix(StripPrefix),
    StripPrefixRegex(StripPrefixRegex),
}

impl Filter {
    /// Request phase. `index` is this filter's position in the chain.
    pub fn on_request(
        &self,
        index: usize,
        parts: &mut request::Parts,
        conn: &ConnInfo,
        flow: &mut FlowState,
    ) -> Action {
        match self {
            Filter::AddPrefix(f) => f.on_request(parts),
            Filter::ApiKey(f) => f.on_request(parts, flow),
            Filter::Jwt(f) => f.on_request(parts, flow),
            Filter::BasicAuth(f) => f.on_request(parts, flow),
            Filter::CircuitBreaker(f) => f.on_request(),
            // Run by the proxy around the service call / body (see `ProxySupport`).
            Filter::Buffering(_) | Filter::Errors(_) | Filter::Retry(_) => Action::Continue,
            // Negotiated here, at the filter's place in the chain (an earlier filter may have
            // changed `Accept-Encoding`); the proxy encodes the body.
            Filter::Compress(p) => {
                flow.set_compress_choice(index, p.on_request(&parts.method, &parts.headers));
                Action::Continue
            }
            Filter::ContentType(_) => Action::Continue,
            Filter::DigestAuth(f) => f.on_request(parts, flow),
            Filter::EncodedCharacters(f) => f.on_request(parts),
            Filter::ForwardAuth(f) => Action::Call(Box::new(f.auth_request(parts, conn))),
            Filter::GrpcWeb(f) => f.on_request(parts, flow),
            Filter::Headers(f) => f.on_request(index, parts, conn, flow),
            Filter::IpAllowList(f) => f.on_request(parts, conn),
            Filter::InFlightReq(f) => f.on_request(parts, conn, flow),
            Filter::PassTlsClientCert(f) => f.on_request(parts),
            Filter::Quota(f) => f.on_request(parts, conn, flow),
            Filter::RateLimit(f) => f.on_request(parts, conn, flow),
            Filter::RedirectRegex(f) => f.on_request(parts, conn),
            Filter::RedirectScheme(f) => f.on_request(parts, conn),
            Filter::ReplacePath(f) => f.on_request(parts),
            Filter::ReplacePathRegex(f) => f.on_request(parts),
            Filter::StripPrefix(f) => f.on_request(parts),
            Filter::StripPrefixRegex(f) => f.on_request(parts),
        }
    }

    /// Response phase (headers only). Runs for every filter whose request phase ran, in reverse.
    pub fn on_response(
        &self,
        index: usize,
        parts: &mut response::Parts,
        conn: &ConnInfo,
        flow: &FlowState,
    ) {
        match self {
            Filter::Headers(f) => f.on_response(index, parts, conn, flow),
            Filter::ForwardAuth(f) => f.on_response(parts, flow),
            Filter::GrpcWeb(f) => f.on_response(parts, flow),
            Filter::Quota(_) => {
                if let Some(h) = flow.rate_headers {
                    put_rate_headers(&mut parts.headers, h);
                }
            }
            Filter::RateLimit(f) => {
                if let Some(h) = flow.rate_headers.filter(|_| f.sends_headers()) {
                    put_rate_headers(&mut parts.headers, h);
                }
            }
            Filter::AddPrefix(_)
            | Filter::ApiKey(_)
            | Filter::Jwt(_)
            | Filter::BasicAuth(_)
            | Filter::Buffering(_)
            | Filter::CircuitBreaker(_)
            | Filter::Compress(_)
            | Filter::Errors(_)
            | Filter::Retry(_)
            | Filter::ContentType(_)
            | Filter::DigestAuth(_)
            | Filter::EncodedCharacters(_)
            | Filter::IpAllowList(_)
            | Filter::InFlightReq(_)
            | Filter::PassTlsClientCert(_)
            | Filter::RedirectRegex(_)
            | Filter::RedirectScheme(_)
            | Filter::ReplacePath(_)
            | Filter::ReplacePathRegex(_)
            | Filter::StripPrefix(_)
            | Filter::StripPrefixRegex(_) => {}
        }
    }

    /// After `Action::Call`: the called server's answer (its body read whole). Only
    /// ForwardAuth calls; for any other filter this is a 500, never a silent pass.
    pub fn on_call_response(
        &self,
        answer: &response::Parts,
        body: Bytes,
        parts: &mut request::Parts,
        flow: &mut FlowState,
    ) -> Action {
        match self {
            Filter::ForwardAuth(f) => f.on_call_response(answer, body, parts, flow),
            _ => Action::Respond(crate::forward_auth::call_failed()),
        }
    }

    /// After the service answered a forwarded request (502/504 for transport errors): feeds
    /// CircuitBreaker windows. Call it for every filter of the chain; others ignore it.
    pub fn record_outcome(&self, status: http::StatusCode, latency: StdDuration) {
        if let Filter::CircuitBreaker(f) = self {
            f.record(status, latency);
        }
    }

    /// Proxy-run middlewares expose their compiled policy.
    pub fn retry_policy(&self) -> Option<&RetryPolicy> {
        match self {
            Filter::Retry(p) => Some(p),
            _ => None,
        }
    }
    pub fn error_pages(&self) -> Option<&ErrorPages> {
        match self {
            Filter::Errors(p) => Some(p),
            _ => None,
        }
    }
    pub fn compress_policy(&self) -> Option<&CompressPolicy> {
        match self {
            Filter::Compress(p) => Some(p),
            _ => None,
        }
    }
    pub fn buffering_policy(&self) -> Option<&BufferingPolicy> {
        match self {
            Filter::Buffering(p) => Some(p),
            _ => None,
        }
    }

    /// The proxy must sniff the first bytes of a response without `Content-Type` and call
    /// `content_type::detect` (the ContentType middleware).
    pub fn wants_content_sniffing(&self) -> bool {
        matches!(self, Filter::ContentType(c) if c.enabled())
    }
}

/// Where the request phase of a chain stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum ChainOutcome {
    /// Every filter ran: forward the request. Run the response phase over the whole chain.
    Forward,
    /// Filter `index` answered; run the response phase over `chain[..index]` on this response.
    Respond {
        index: usize,
        response: Response<Bytes>,
    },
    /// Filter `index` asks to wait; then call `run_request` again from `index + 1`.
    Delay { index: usize, delay: StdDuration },
    /// Filter `index` needs `request` sent (the auth server for ForwardAuth; with the client's
    /// body when `ForwardAuth::forward_body()` says so). On failure answer
    /// `forward_auth::call_failed()`; else pass the answer to `chain[index].on_call_response`,
    /// then go on from `index + 1` (or run the response phase over `chain[..index]` on a
    /// `Respond`).
    Call {
        index: usize,
        request: Box<request::Parts>,
    },
    /// Filter `index` needs a shared-store answer: await `pending`, then act on its action
    /// (`Continue` → go on from `index + 1`; `Respond` → answer; `Delay` → wait, then go on).
    Await { index: usize, pending: Pending },
}

/// Runs the request phase from `start` (0, or one past a `Delay`).
pub fn run_request(
    chain: &[Filter],
    start: usize,
    parts: &mut request::Parts,
    conn: &ConnInfo,
    flow: &mut FlowState,
) -> ChainOutcome {
    for (index, filter) in chain.iter().enumerate().skip(start) {
        match filter.on_request(index, parts, conn, flow) {
            Action::Continue => {}
            Action::Respond(response) => return ChainOutcome::Respond { index, response },
            Action::Delay(delay) => return ChainOutcome::Delay { index, delay },
            Action::Call(request) => return ChainOutcome::Call { index, request },
            Action::Await(pending) => return ChainOutcome::Await { index, pending },
        }
    }
    ChainOutcome::Forward
}

/// Runs the response phase of `chain[..ran]`, last filter first.
pub fn run_response(
    chain: &[Filter],
    ran: usize,
    parts: &mut response::Parts,
    conn: &ConnInfo,
    flow: &FlowState,
) {
    run_response_between(chain, 0, ran, parts, conn, flow);
}

/// Runs the response phase of `chain[lo..hi]`, last filter first: the proxy splits the phase
/// around a body-transforming filter (Compress sees the headers the filters after it set).
pub fn run_response_between(
    chain: &[Filter],
    lo: usize,
    hi: usize,
    parts: &mut response::Parts,
    conn: &ConnInfo,
    flow: &FlowState,
) {
    let hi = hi.min(chain.len());
    let lo = lo.min(hi);
    for (index, filter) in chain.iter().enumerate().take(hi).skip(lo).rev() {
        filter.on_response(index, parts, conn, flow);
    }
}

/// Contents of files that options name (`usersFile`), loaded before compile so compile is pure.
pub trait Files {
    /// The file's text, keyed by the path exactly as the option spells it.
    fn read(&self, path: &str) -> Option<&str>;
}

/// No files loaded.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFiles;

impl Files for NoFiles {
    fn read(&self, _: &str) -> Option<&str> {
        None
    }
}

impl<S: AsRef<str>> Files for BTreeMap<String, S> {
    fn read(&self, path: &str) -> Option<&str> {
        self.get(path).map(AsRef::as_ref)
    }
}

impl<S: AsRef<str>> Files for HashMap<String, S> {
    fn read(&self, path: &str) -> Option<&str> {
        self.get(path).map(AsRef::as_ref)
    }
}

/// Inputs of `compile` besides the spec.
pub struct CompileCtx<'a> {
    /// Loaded files (see `referenced_files`).
    pub files: &'a dyn Files,
    /// Long-lived state (rate-limit buckets, in-flight counters). Without it every compile starts
    /// fresh.
    pub registry: Option<&'a StateRegistry>,
    /// Who uses this instance: the qualified router name. RateLimit and InFlightReq keep their
    /// state per router and middleware, as Traefik builds one middleware instance per router.
    pub scope: &'a str,
    /// What the proxy can run beyond the synchronous filters. Middlewares that need a feature
    /// the proxy does not declare fail with "not supported yet" instead of doing nothing.
    pub support: ProxySupport,
    /// The runtime's long-lived helpers (JWKS fetchers, Redis clients, the quota book). `None`
    /// (unit tests, `wharf check`): JWKS URLs are never fetched, Redis specs still compile
    /// (checked) but a filter built without a store refuses with 503 / fails open.
    pub backends: Option<&'a dyn Backends>,
}

/// Proxy features that some middlewares need (set by the proxy once it handles them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxySupport {
    /// `ChainOutcome::Call` is handled: ForwardAuth can run.
    pub forward_auth: bool,
    /// `Filter::record_outcome` is called after each forwarded request: CircuitBreaker can run.
    pub circuit_breaker: bool,
    /// The proxy retries the service call per `Filter::retry_policy`.
    pub retry: bool,
    /// The proxy fetches error pages per `Filter::error_pages`.
    pub errors: bool,
    /// The proxy compresses response bodies per `Filter::compress_policy`.
    pub compress: bool,
    /// The proxy buffers bodies per `Filter::buffering_policy`.
    pub buffering: bool,
    /// The proxy translates gRPC-Web bodies per `FlowState::grpc_web`.
    pub grpc_web: bool,
}

impl Default for CompileCtx<'_> {
    fn default() -> Self {
        CompileCtx {
            files: &NoFiles,
            registry: None,
            scope: "",
            support: ProxySupport::default(),
            backends: None,
        }
    }
}

impl std::fmt::Debug for CompileCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileCtx")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl CompileCtx<'_> {
    /// Registry key for state of middleware `name` in this scope.
    pub(crate) fn state_key(&self, name: &str) -> String {
        format!("{}\u{1f}{}", self.scope, name)
    }
}

/// Files a spec refers to, for the loader that runs before compile.
pub fn referenced_files(spec: &MiddlewareSpec) -> Vec<&str> {
    let mut out = Vec::new();
    if let Some(b) = &spec.basic_auth {
        if !b.users_file.is_empty() {
            out.push(b.users_file.as_str());
        }
    }
    if let Some(j) = &spec.jwt {
        if !j.jwks_file.is_empty() {
            out.push(j.jwks_file.as_str());
        }
    }
    if let Some(f) = spec
        .plugin
        .as_ref()
        .and_then(|p| p.get("jwt"))
        .and_then(|j| j.get("jwksFile"))
        .and_then(|f| f.as_str())
    {
        if !f.is_empty() {
            out.push(f);
        }
    }
    if let Some(k) = &spec.api_key {
        if !k.keys_file.is_empty() {
            out.push(k.keys_file.as_str());
        }
    }
    if let Some(d) = &spec.digest_auth {
        if !d.users_file.is_empty() {
            out.push(d.users_file.as_str());
        }
    }
    out
}

/// Builds the filter for one middleware. `name` is its qualified name (`auth@docker`).
/// Chains are not filters: flatten them first with `expand_chains`.
pub fn compile(
    name: &str,
    spec: &MiddlewareSpec,
    ctx: &CompileCtx<'_>,
) -> Result<Filter, SpecError> {
    use MiddlewareKind as K;
    let kind = spec.kind()?;
    let nsy = |k: MiddlewareKind| Err(SpecError::NotSupportedYet(k.as_str().to_string()));
    match kind {
        K::AddPrefix => AddPrefix::compile(opt(&spec.add_prefix)?).map(Filter::AddPrefix),
        K::ApiKey => ApiKey::compile(opt(&spec.api_key)?, ctx).map(|f| Filter::ApiKey(Box::new(f))),
        K::Jwt => match (&spec.jwt, spec.plugin_jwt()) {
            (Some(j), None) => Jwt::compile(j, ctx).map(|f| Filter::Jwt(Box::new(f))),
            (None, Some(j)) => Jwt::compile(&j?, ctx).map(|f| Filter::Jwt(Box::new(f))),
            _ => Err(SpecError::SeveralTypes(vec!["jwt", "plugin.jwt"])),
        },
        K::BasicAuth => {
            BasicAuth::compile(opt(&spec.basic_auth)?, ctx).map(|f| Filter::BasicAuth(Box::new(f)))
        }
        K::ContentType => ContentType::compile(opt(&spec.content_type)?).map(Filter::ContentType),
        K::EncodedCharacters => Ok(Filter::EncodedCharacters(EncodedCharacters::compile(opt(
            &spec.encoded_characters,
        )?))),
        K::Headers => Headers::compile(opt(&spec.headers)?).map(|f| Filter::Headers(Box::new(f))),
        K::IpAllowList => {
            IpAllowList::compile("ipAllowList", opt(&spec.ip_allow_list)?).map(Filter::IpAllowList)
        }
        K::IpWhiteList => {
            IpAllowList::compile("ipWhiteList", opt(&spec.ip_white_list)?).map(Filter::IpAllowList)
        }
        K::InFlightReq => {
            InFlightReq::compile(name, opt(&spec.in_flight_req)?, ctx).map(Filter::InFlightReq)
        }
        K::RateLimit => {
            RateLimit::compile(name, opt(&spec.rate_limit)?, ctx).map(Filter::RateLimit)
        }
        K::Quota => {
            Quota::compile(name, opt(&spec.quota)?, ctx).map(|f| Filter::Quota(Box::new(f)))
        }
        K::RedirectRegex => {
            RedirectRegex::compile(opt(&spec.redirect_regex)?).map(Filter::RedirectRegex)
        }
        K::RedirectScheme => {
            RedirectScheme::compile(opt(&spec.redirect_scheme)?).map(Filter::RedirectScheme)
        }
        K::ReplacePath => ReplacePath::compile(opt(&spec.replace_path)?).map(Filter::ReplacePath),
        K::ReplacePathRegex => {
            ReplacePathRegex::compile(opt(&spec.replace_path_regex)?).map(Filter::ReplacePathRegex)
        }
        K::StripPrefix => StripPrefix::compile(opt(&spec.strip_prefix)?).map(Filter::StripPrefix),
        K::StripPrefixRegex => {
            StripPrefixRegex::compile(opt(&spec.strip_prefix_regex)?).map(Filter::StripPrefixRegex)
        }
        K::Chain => Err(SpecError::invalid(
            "chain",
            "a chain is flattened into its members by the router compiler (expand_chains)",
        )),
        // Validated now so a bad value gets its precise message; the body/async middlewares
        // need proxy integration before they can run.
        K::Buffering if ctx.support.buffering => {
            BufferingPolicy::compile(opt(&spec.buffering)?).map(|p| Filter::Buffering(Box::new(p)))
        }
        K::Buffering => {
            crate::buffering::validate(opt(&spec.buffering)?)?;
            nsy(kind)
        }
        K::CircuitBreaker if ctx.support.circuit_breaker => {
            CircuitBreaker::compile(name, opt(&spec.circuit_breaker)?, ctx)
                .map(|f| Filter::CircuitBreaker(Box::new(f)))
        }
        K::CircuitBreaker => {
            crate::circuit_breaker::validate(opt(&spec.circuit_breaker)?)?;
            nsy(kind)
        }
        K::Compress if ctx.support.compress => {
            CompressPolicy::compile(opt(&spec.compress)?).map(|p| Filter::Compress(Box::new(p)))
        }
        K::Compress => {
            crate::compress::validate(opt(&spec.compress)?)?;
            nsy(kind)
        }
        K::DigestAuth => DigestAuth::compile(name, opt(&spec.digest_auth)?, ctx)
            .map(|f| Filter::DigestAuth(Box::new(f))),
        K::Errors if ctx.support.errors => {
            ErrorPages::compile(opt(&spec.errors)?).map(|p| Filter::Errors(Box::new(p)))
        }
        K::Errors => {
            crate::errors::validate(opt(&spec.errors)?)?;
            nsy(kind)
        }
        K::ForwardAuth if ctx.support.forward_auth => {
            ForwardAuth::compile(opt(&spec.forward_auth)?).map(|f| Filter::ForwardAuth(Box::new(f)))
        }
        K::ForwardAuth => {
            crate::forward_auth::validate(opt(&spec.forward_auth)?)?;
            nsy(kind)
        }
        K::GrpcWeb if ctx.support.grpc_web => {
            GrpcWeb::compile(opt(&spec.grpc_web)?).map(|f| Filter::GrpcWeb(Box::new(f)))
        }
        K::GrpcWeb => nsy(kind),
        K::PassTlsClientCert => PassTlsClientCert::compile(opt(&spec.pass_tls_client_cert)?)
            .map(|f| Filter::PassTlsClientCert(Box::new(f))),
        K::Retry if ctx.support.retry => RetryPolicy::compile(opt(&spec.retry)?).map(Filter::Retry),
        K::Retry => {
            crate::retry::validate(opt(&spec.retry)?)?;
            nsy(kind)
        }
        K::Plugin => Err(SpecError::PluginNotSupported(
            spec.plugin
                .as_ref()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
        )),
    }
}

fn opt<T>(o: &Option<T>) -> Result<&T, SpecError> {
    // `kind()` already proved the option is set; this keeps the match free of unwraps.
    o.as_ref().ok_or(SpecError::NoType)
}

/// Qualifies `name` with `provider` unless it already names one (`a` → `a@file`).
pub fn qualify(name: &str, provider: &str) -> String {
    if name.contains('@') || provider.is_empty() {
        name.to_string()
    } else {
        format!("{name}@{provider}")
    }
}

/// Flattens middleware references, expanding chains depth-first, in order. `lookup` finds a
/// qualified name's spec; unqualified members of a chain take the chain's provider, and
/// unqualified `names` take `provider`. A chain that refers to itself, directly or through
/// others, is a `ChainCycle` error naming the loop; an unknown name is `UnknownMiddleware`.
pub fn expand_chains<'s>(
    names: &[String],
    provider: &str,
    lookup: &dyn Fn(&str) -> Option<&'s MiddlewareSpec>,
) -> Result<Vec<String>, SpecError> {
    fn walk<'s>(
        name: &str,
        lookup: &dyn Fn(&str) -> Option<&'s MiddlewareSpec>,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), SpecError> {
        if let Some(pos) = stack.iter().position(|n| n == name) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(name.to_string());
            return Err(SpecError::ChainCycle(cycle));
        }
        let spec = lookup(name).ok_or_else(|| SpecError::UnknownMiddleware(name.to_string()))?;
        match &spec.chain {
            Some(chain) if spec.kinds().len() == 1 => {
                let provider = name.split_once('@').map(|(_, p)| p).unwrap_or("");
                stack.push(name.to_string());
                for member in &chain.middlewares {
                    walk(&qualify(member.trim(), provider), lookup, stack, out)?;
                }
                stack.pop();
                Ok(())
            }
            _ => {
                out.push(name.to_string());
                Ok(())
            }
        }
    }
    let mut out = Vec::with_capacity(names.len());
    let mut stack = Vec::new();
    for n in names {
        walk(&qualify(n.trim(), provider), lookup, &mut stack, &mut out)?;
    }
    Ok(out)
}
