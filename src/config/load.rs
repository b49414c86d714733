//! Loading: file, environment and flags → normalized trees → one merged tree (precedence
//! CLI > env > file, `WHARF_*` > `TRAEFIK_*`) → `StaticConfig` → Traefik's derived defaults →
//! validation. Every problem carries its origin (file + key + line, flag, or variable).
//!
//! Where this differs from Traefik: Traefik reads exactly one source (the first of flags, then
//! file, then env that is present). wharf merges all three, so a compose file can set
//! `--providers.docker=true` on top of a mounted `traefik.yml`; when only one source is used the
//! result is the same as Traefik's. Map keys keep their case from files and flags but are
//! lower-cased from env (as Traefik does), so `entryPoints.Web` in a file and
//! `TRAEFIK_ENTRYPOINTS_WEB_ADDRESS` name two different entry points.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::address::{parse_address, AddressError};
use wharf_providers::keys::{self, KeyProblem};

use super::merge::{deep_merge, strip_nulls};
use super::sources::{
    env_items, find_config_file, is_config_file_var, split_key, tree_of, EnvItem, FileSource,
    FlagItem,
};
use super::types::*;
use super::{ConfigError, ConfigProblem, Origin};

/// The loaded static configuration, with the warnings found on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: StaticConfig,
    /// Not fatal: unknown environment variables, keys wharf does not act on yet, UDP entry points.
    pub warnings: Vec<String>,
    pub sources: Sources,
}

/// Where the configuration came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    /// The static file read (given by `--configFile`, `*_CONFIGFILE`, or found by search).
    pub file: Option<PathBuf>,
    /// Flags that set configuration keys, as written.
    pub flags: Vec<String>,
    /// Environment variables that set configuration keys.
    pub env: Vec<String>,
}

/// Inputs of [`load`]: the parsed flags and the environment.
pub struct LoadInput<'a> {
    pub flags: &'a [FlagItem],
    /// `--configFile`; when `None`, `WHARF_CONFIGFILE`/`TRAEFIK_CONFIGFILE`, then the search.
    pub config_file: Option<&'a Path>,
    pub env: &'a [(String, String)],
}

struct Normalized {
    file: Option<(FileSource, Value)>,
    env: Vec<(EnvItem, Value)>,
    flags: Vec<(FlagItem, Value)>,
}

/// The static configuration's schema (cached for the process).
pub(crate) fn schema() -> &'static schemars::Schema {
    keys::schema_for::<StaticConfig>()
}

/// Canonicalizes one source's raw tree and checks that it decodes on its own, so every problem
/// is attributed to that source. Returns the canonical tree, or every problem found.
pub(crate) fn check_tree(mut tree: Value) -> Result<Value, Vec<KeyProblem>> {
    let mut problems = keys::canonicalize(&mut tree, schema());
    // Decode what remains too, so a bad value is reported along with unknown keys.
    let mut decoded = tree.clone();
    strip_nulls(&mut decoded);
    if let Err(more) = keys::decode::<StaticConfig>(decoded) {
        problems.extend(more);
    }
    if problems.is_empty() {
        Ok(tree)
    } else {
        Err(problems)
    }
}

/// Whether the key at `path` (any case) is a boolean or a section, i.e. `--key` alone means
/// true and `--key value` takes the value only when it is `true` or `false`. Found by letting
/// the canonicalizer coerce `"true"` at that path: a boolean or a section comes back.
pub(crate) fn is_bool_or_section(path: &[String]) -> bool {
    let mut tree = tree_of(std::iter::once((path, Value::String("true".into()))));
    let _ = keys::canonicalize(&mut tree, schema());
    let mut node = &tree;
    for _ in path {
        match node {
            Value::Object(o) if o.len() == 1 => node = o.values().next().unwrap_or(&Value::Null),
            _ => return false,
        }
    }
    matches!(node, Value::Bool(_) | Value::Object(_))
}

/// A canonical key path (`a.b[0].c`) as segments.
fn segments(path: &str) -> Vec<String> {
    split_key(path)
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
}

/// Loads, merges, decodes, applies defaults and validates. All problems found are returned
/// together (not only the first).
pub fn load(input: LoadInput<'_>) -> Result<Loaded, ConfigError> {
    let mut problems: Vec<ConfigProblem> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    // The file.
    let env_file = || {
        input
            .env
            .iter()
            .filter(|(n, v)| is_config_file_var(n) && !v.is_empty())
            .max_by_key(|(n, _)| n.starts_with("WHARF_"))
            .map(|(_, v)| PathBuf::from(v))
    };
    let file_path = input
        .config_file
        .map(Path::to_path_buf)
        .or_else(env_file)
        .or_else(|| find_config_file(input.env));
    let mut file: Option<(FileSource, Value)> = None;
    if let Some(path) = &file_path {
        match FileSource::read(path) {
            Ok(src) => match check_tree(src.tree.clone()) {
                Ok(tree) => file = Some((src, tree)),
                Err(kp) => {
                    let mut found: Vec<ConfigProblem> = kp
                        .into_iter()
                        .map(|p| {
                            let segs = segments(&p.path);
                            ConfigProblem {
                                origin: Origin::File(src.path.clone()),
                                line: p.line.or_else(|| src.line_of(&segs)),
                                key: p.path,
                                message: p.message,
                            }
                        })
                        .collect();
                    // In the order they appear in the file (the tree's maps are sorted by key).
                    found.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
                    problems.extend(found);
                }
            },
            Err(p) => problems.push(p),
        }
    }

    // Environment: an unknown variable only warns (Kubernetes injects `WHARF_PORT`-style ones).
    let mut env = Vec::new();
    for item in env_items(input.env) {
        let raw = tree_of(std::iter::once((
            item.path.as_slice(),
            Value::String(item.value.clone()),
        )));
        match check_tree(raw) {
            Ok(tree) => env.push((item, tree)),
            Err(kp) => {
                for p in kp {
                    warnings.push(format!(
                        "env {}: {} (variable ignored)",
                        item.name, p.message
                    ));
                }
            }
        }
    }

    // Flags: an unknown key or a bad value is an error naming the flag.
    let mut flags = Vec::new();
    for item in input.flags {
        let raw = tree_of(std::iter::once((
            item.path.as_slice(),
            Value::String(item.value.clone()),
        )));
        match check_tree(raw) {
            Ok(tree) => flags.push((item.clone(), tree)),
            Err(kp) => {
                for p in kp {
                    problems.push(ConfigProblem {
                        origin: Origin::Flag(item.text.clone()),
                        key: p.path,
                        line: None,
                        message: p.message,
                    });
                }
            }
        }
    }
    let n = Normalized { file, env, flags };
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }

    // Merge in precedence order. Env and flags are canonicalized again as whole trees so that
    // `domains[0].main` and `domains[0].sans` from two flags land in one list element.
    let mut merged = n
        .file
        .as_ref()
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| Value::Object(Default::default()));
    for group in [
        source_tree(
            n.env
                .iter()
                .map(|(i, _)| (i.path.as_slice(), i.value.as_str())),
        ),
        source_tree(
            n.flags
                .iter()
                .map(|(i, _)| (i.path.as_slice(), i.value.as_str())),
        ),
    ] {
        deep_merge(&mut merged, group);
    }
    strip_nulls(&mut merged);

    let mut config: StaticConfig = match keys::decode(merged.clone()) {
        Ok(c) => c,
        Err(kp) => {
            let found = kp
                .into_iter()
                .map(|p| n.locate(&segments(&p.path), p.message))
                .collect();
            return Err(ConfigError::Invalid(found));
        }
    };

    // DOCKER_HOST is the endpoint when `providers.docker.endpoint` is not set (as Docker's and
    // Traefik's clients read it).
    if let Some(docker) = config.providers.docker.as_mut() {
        let set = value_at(&merged, &["providers", "docker", "endpoint"]).is_some();
        if let (false, Some((_, host))) = (
            set,
            input
                .env
                .iter()
                .find(|(k, v)| k == "DOCKER_HOST" && !v.is_empty()),
        ) {
            docker.endpoint = host.clone();
        }
    }

    config.apply_defaults();

    for (path, message) in config.validate() {
        problems.push(n.locate(&path, message));
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }

    for (name, ep) in &config.entry_points {
        if let Err(e @ AddressError::UdpUnsupported(_)) = parse_address(&ep.address) {
            warnings.push(format!(
                "entryPoints.{name}.address: {e}; this entry point is not opened"
            ));
        }
    }
    for pattern in NOT_YET_USED {
        let segs: Vec<&str> = pattern.split('.').collect();
        let mut hits = Vec::new();
        find_present(&merged, &segs, &mut Vec::new(), &mut hits);
        for hit in hits {
            warnings.push(format!("{hit}: accepted but not used by wharf yet"));
        }
    }

    let sources = Sources {
        file: n.file.as_ref().map(|(f, _)| f.path.clone()),
        flags: n.flags.iter().map(|(f, _)| f.text.clone()).collect(),
        env: n.env.iter().map(|(e, _)| e.name.clone()).collect(),
    };
    Ok(Loaded {
        config,
        warnings,
        sources,
    })
}

fn source_tree<'a>(items: impl Iterator<Item = (&'a [String], &'a str)>) -> Value {
    let mut tree = tree_of(items.map(|(p, v)| (p, Value::String(v.to_string()))));
    // Each item was checked alone; what remains cannot fail.
    let _ = keys::canonicalize(&mut tree, schema());
    tree
}

impl Normalized {
    /// The origin of a canonical key path: the highest-precedence source that sets it (or a
    /// key under it), else a derived default.
    fn locate(&self, path: &[String], message: String) -> ConfigProblem {
        let key = path.join(".");
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        for (item, tree) in self.flags.iter().rev() {
            if touches(tree, &segs) {
                return ConfigProblem {
                    origin: Origin::Flag(item.text.clone()),
                    key,
                    line: None,
                    message,
                };
            }
        }
        for (item, tree) in self.env.iter().rev() {
            if touches(tree, &segs) {
                return ConfigProblem {
                    origin: Origin::Env(item.name.clone()),
                    key,
                    line: None,
                    message,
                };
            }
        }
        if let Some((src, tree)) = &self.file {
            if touches(tree, &segs) {
                return ConfigProblem {
                    origin: Origin::File(src.path.clone()),
                    key,
                    line: src.line_of(path),
                    message,
                };
            }
        }
        ConfigProblem {
            origin: Origin::Default,
            key,
            line: None,
            message,
        }
    }
}

fn value_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut node = v;
    for seg in path {
        node = match node {
            Value::Object(o) => o.get(*seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Whether the tree sets `path` or something under it.
fn touches(tree: &Value, path: &[&str]) -> bool {
    value_at(tree, path).is_some_and(|v| !v.is_null())
}

fn find_present(v: &Value, pattern: &[&str], at: &mut Vec<String>, hits: &mut Vec<String>) {
    let Some((first, rest)) = pattern.split_first() else {
        if !v.is_null() {
            hits.push(at.join("."));
        }
        return;
    };
    let Value::Object(o) = v else { return };
    if *first == "*" {
        for (k, child) in o {
            at.push(k.clone());
            find_present(child, rest, at, hits);
            at.pop();
        }
    } else if let Some(child) = o.get(*first) {
        at.push((*first).to_string());
        find_present(child, rest, at, hits);
        at.pop();
    }
}

impl EntryPoint {
    /// This entry point's parsed address.
    pub fn listen_address(&self) -> Result<super::ListenAddress, AddressError> {
        parse_address(&self.address)
    }
}

impl StaticConfig {
    /// Traefik's derived defaults (its `SetEffectiveConfiguration`):
    /// - no entry point at all → `http` on `:80`;
    /// - `api.insecure`, or `ping`/`metrics.prometheus` on the `traefik` entry point without
    ///   `manualRouting` → a `traefik` entry point on `:8080` unless one is defined;
    /// - an empty `ping.entryPoint` means `traefik`.
    pub fn apply_defaults(&mut self) {
        if self.entry_points.is_empty() {
            self.entry_points.insert(
                "http".into(),
                EntryPoint {
                    address: ":80".into(),
                    ..Default::default()
                },
            );
        }
        if let Some(ping) = self.ping.as_mut() {
            if ping.entry_point.is_empty() {
                ping.entry_point = INTERNAL_ENTRY_POINT.into();
            }
        }
        if let Some(prom) = self.metrics.as_mut().and_then(|m| m.prometheus.as_mut()) {
            if prom.entry_point.is_empty() {
                prom.entry_point = INTERNAL_ENTRY_POINT.into();
            }
        }
        let wants_internal = self.api.as_ref().is_some_and(|a| a.insecure)
            || self
                .ping
                .as_ref()
                .is_some_and(|p| !p.manual_routing && p.entry_point == INTERNAL_ENTRY_POINT)
            || self
                .metrics
                .as_ref()
                .and_then(|m| m.prometheus.as_ref())
                .is_some_and(|p| !p.manual_routing && p.entry_point == INTERNAL_ENTRY_POINT);
        if wants_internal && !self.entry_points.contains_key(INTERNAL_ENTRY_POINT) {
            self.entry_points.insert(
                INTERNAL_ENTRY_POINT.into(),
                EntryPoint {
                    address: ":8080".into(),
                    ..Default::default()
                },
            );
        }
    }

    /// Entry points of routers that name none (Traefik's rule): if any entry point has
    /// `asDefault`, only those; otherwise all. Never the internal `traefik` entry point (the
    /// API's own) nor UDP ones. Sorted by name.
    pub fn default_router_entry_points(&self) -> Vec<String> {
        let any_default = self.entry_points.values().any(|e| e.as_default);
        self.entry_points
            .iter()
            .filter(|(_, e)| !any_default || e.as_default)
            .filter(|(n, _)| n.as_str() != INTERNAL_ENTRY_POINT)
            .filter(|(_, e)| {
                !matches!(
                    parse_address(&e.address),
                    Err(AddressError::UdpUnsupported(_))
                )
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The entry points to listen on (name, address), sorted by name; UDP ones are left out
    /// (they are warned about at load).
    pub fn listeners(&self) -> Vec<(String, super::ListenAddress)> {
        self.entry_points
            .iter()
            .filter_map(|(n, e)| parse_address(&e.address).ok().map(|a| (n.clone(), a)))
            .collect()
    }

    /// Semantic checks after defaults; each problem is (canonical key path, message).
    pub fn validate(&self) -> Vec<(Vec<String>, String)> {
        let mut out = Vec::new();
        let p = |segs: &[&str]| segs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ep_names: Vec<&str> = self.entry_points.keys().map(String::as_str).collect();
        let unknown_ep = |name: &str| {
            format!(
                "unknown entry point {name:?} (defined: {})",
                ep_names.join(", ")
            )
        };
        for (name, ep) in &self.entry_points {
            match parse_address(&ep.address) {
                Ok(_) | Err(AddressError::UdpUnsupported(_)) => {}
                Err(e) => out.push((p(&["entryPoints", name, "address"]), e.to_string())),
            }
            if let Some(to) = ep
                .http
                .redirections
                .as_ref()
                .and_then(|r| r.entry_point.as_ref())
            {
                let path = p(&[
                    "entryPoints",
                    name,
                    "http",
                    "redirections",
                    "entryPoint",
                    "to",
                ]);
                if to.to.is_empty() {
                    out.push((
                        path,
                        "`to` is required (an entry point name or a port such as \":443\")".into(),
                    ));
                } else if !self.entry_points.contains_key(&to.to) && !to.to.starts_with(':') {
                    out.push((path, unknown_ep(&to.to)));
                }
                let scheme = &to.scheme;
                if !scheme.is_empty()
                    && !scheme.eq_ignore_ascii_case("https")
                    && !scheme.eq_ignore_ascii_case("http")
                {
                    out.push((
                        p(&[
                            "entryPoints",
                            name,
                            "http",
                            "redirections",
                            "entryPoint",
                            "scheme",
                        ]),
                        format!("unknown scheme {scheme:?} (http or https)"),
                    ));
                }
            }
            for (which, ips) in [
                ("forwardedHeaders", &ep.forwarded_headers.trusted_ips),
                (
                    "proxyProtocol",
                    &ep.proxy_protocol
                        .as_ref()
                        .map(|x| x.trusted_ips.clone())
                        .unwrap_or_default(),
                ),
            ] {
                for (i, ip) in ips.iter().enumerate() {
                    if ip.parse::<ipnet::IpNet>().is_err()
                        && ip.parse::<std::net::IpAddr>().is_err()
                    {
                        out.push((
                            p(&["entryPoints", name, which, "trustedIPs", &i.to_string()]),
                            format!("{ip:?} is not an IP address or CIDR range"),
                        ));
                    }
                }
            }
        }
        if let Some(ping) = &self.ping {
            if !self.entry_points.contains_key(&ping.entry_point) {
                out.push((p(&["ping", "entryPoint"]), unknown_ep(&ping.entry_point)));
            }
        }
        if let Some(prom) = self.metrics.as_ref().and_then(|m| m.prometheus.as_ref()) {
            if !prom.manual_routing && !self.entry_points.contains_key(&prom.entry_point) {
                out.push((
                    p(&["metrics", "prometheus", "entryPoint"]),
                    unknown_ep(&prom.entry_point),
                ));
            }
        }
        if let Some(file) = &self.providers.file {
            if !file.filename.is_empty() && !file.directory.is_empty() {
                out.push((
                    p(&["providers", "file"]),
                    "set either `filename` or `directory`, not both".into(),
                ));
            } else if file.filename.is_empty() && file.directory.is_empty() {
                out.push((
                    p(&["providers", "file"]),
                    "`filename` or `directory` is required".into(),
                ));
            }
        }
        if let Some(docker) = &self.providers.docker {
            let ok = [
                "unix://", "tcp://", "http://", "https://", "npipe://", "ssh://",
            ]
            .iter()
            .any(|s| {
                docker.endpoint.len() > s.len()
                    && docker.endpoint[..s.len()].eq_ignore_ascii_case(s)
            });
            if !ok {
                out.push((p(&["providers", "docker", "endpoint"]), format!("{:?} is not a Docker endpoint (unix:///var/run/docker.sock, tcp://host:2375)", docker.endpoint)));
            }
            if docker.label_prefix.is_empty() || docker.label_prefix.ends_with('.') {
                out.push((p(&["providers", "docker", "labelPrefix"]), "the label prefix must be a non-empty name without a trailing dot (default `traefik`)".into()));
            }
        }
        match self.core.default_rule_syntax.to_ascii_lowercase().as_str() {
            "v2" | "v3" => {}
            other => out.push((
                p(&["core", "defaultRuleSyntax"]),
                format!("unknown rule syntax {other:?} (v3 or v2)"),
            )),
        }
        let levels = [
            "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "PANIC",
        ];
        if !levels
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&self.log.level))
        {
            out.push((
                p(&["log", "level"]),
                format!(
                    "unknown log level {:?} (one of {})",
                    self.log.level,
                    levels.join(", ")
                ),
            ));
        }
        if !["common", "json"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&self.log.format))
        {
            out.push((
                p(&["log", "format"]),
                format!("unknown log format {:?} (common or json)", self.log.format),
            ));
        }
        if let Some(al) = &self.access_log {
            if !["common", "json", "genericCLF"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&al.format))
            {
                out.push((
                    p(&["accessLog", "format"]),
                    format!(
                        "unknown access log format {:?} (common, genericCLF or json)",
                        al.format
                    ),
                ));
            }
        }
        for (name, r) in &self.certificates_resolvers {
            let Some(acme) = &r.acme else { continue };
            let kt = ["EC256", "EC384", "RSA2048", "RSA4096", "RSA8192"];
            if !kt.iter().any(|k| k.eq_ignore_ascii_case(&acme.key_type)) {
                out.push((
                    p(&["certificatesResolvers", name, "acme", "keyType"]),
                    format!(
                        "unknown key type {:?} (one of {})",
                        acme.key_type,
                        kt.join(", ")
                    ),
                ));
            }
            if let Some(hc) = &acme.http_challenge {
                if hc.entry_point.is_empty() {
                    out.push((
                        p(&[
                            "certificatesResolvers",
                            name,
                            "acme",
                            "httpChallenge",
                            "entryPoint",
                        ]),
                        "the HTTP challenge needs an entry point (usually the one on port 80)"
                            .into(),
                    ));
                } else if !self.entry_points.contains_key(&hc.entry_point) {
                    out.push((
                        p(&[
                            "certificatesResolvers",
                            name,
                            "acme",
                            "httpChallenge",
                            "entryPoint",
                        ]),
                        unknown_ep(&hc.entry_point),
                    ));
                }
            }
            if acme.http_challenge.is_none()
                && acme.tls_challenge.is_none()
                && acme.dns_challenge.is_none()
            {
                out.push((
                    p(&["certificatesResolvers", name, "acme"]),
                    "choose a challenge: httpChallenge, tlsChallenge or dnsChallenge".into(),
                ));
            }
        }
        out
    }
}
