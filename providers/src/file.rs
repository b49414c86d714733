//! The file provider: one file or a directory of .yml/.yaml/.toml, watched; each file keeps its
//! last good config when it breaks.
//!
//! Flow: files → `parse_file` (pure: text → items that decoded + a problem per item that did not,
//! with file and line) → `merge` (pure: files in path order; the first definition of a name wins,
//! a different second one is a warning on that item) → `DynamicConfig` published on the provider
//! channel. The client loop (`spawn`) only watches the directory and re-reads on any event.
//!
//! Like Traefik, a directory is read recursively; unlike Traefik, entries whose name starts with
//! `.` are skipped, so a Kubernetes ConfigMap mount (`..data` → `..2024_01_01_...`) is read once,
//! through its top-level symlinks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::keys::{self, KeyProblem};
use crate::model::{
    DynamicConfig, ItemKind, Problem, Router, ServersTransport, Service, TlsCertificate,
    TlsOptions, TlsStore,
};
use wharf_middlewares::MiddlewareSpec;

use crate::provider::{self, ProviderHandle, ProviderSender};

/// The syntax of a configuration file, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    /// `.yml`/`.yaml` → YAML, `.toml` → TOML (case-insensitive); anything else → `None`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yml" | "yaml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }
}

/// The file provider's static settings (`providers.file.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileProviderSettings {
    pub filename: Option<PathBuf>,
    pub directory: Option<PathBuf>,
    pub watch: bool,
}

/// A problem on one item of one file (or on the file itself: kind `Source`).
#[derive(Clone, Debug, PartialEq)]
pub struct ItemProblem {
    pub kind: ItemKind,
    /// Item name (`api` for `http.routers.api`); the file's origin for `Source` problems.
    pub name: String,
    /// Path, line and message (the message does not repeat the file name).
    pub problem: KeyProblem,
}

/// One file's decoded content: the items that decoded, and a problem per item that did not
/// (that item is absent from `config`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedFile {
    pub config: DynamicConfig,
    pub problems: Vec<ItemProblem>,
}

/// Parses one dynamic configuration text strictly: any problem (syntax, unknown key, bad value)
/// is an error. Messages start with `origin:line:` where the line is known.
pub fn parse_str(
    text: &str,
    format: Format,
    origin: &str,
) -> Result<DynamicConfig, Vec<KeyProblem>> {
    match parse_file(text, format) {
        Err(p) => Err(vec![with_origin(p, origin)]),
        Ok(parsed) if parsed.problems.is_empty() => Ok(parsed.config),
        Ok(parsed) => Err(parsed
            .problems
            .into_iter()
            .map(|p| with_origin(p.problem, origin))
            .collect()),
    }
}

/// Parses one file leniently: `Err` only when the text does not parse at all (the whole file is
/// unusable); otherwise each router/service/middleware/... decodes on its own and a bad one is
/// left out with a problem. Problems carry lines where they could be found.
pub fn parse_file(text: &str, format: Format) -> Result<ParsedFile, KeyProblem> {
    let rendered = render_templates(text, &|name| std::env::var(name).ok())?;
    let text = rendered.as_str();
    let mut doc = to_value(text, format)?;
    if doc.is_null() {
        doc = Value::Object(Map::new());
    }
    if !doc.is_object() {
        return Err(KeyProblem {
            path: String::new(),
            message: "expected a mapping (`http:`, `tls:`, ...) at the top of the file".into(),
            line: Some(1),
        });
    }
    let mut key_problems = keys::canonicalize(&mut doc, keys::schema_for::<DynamicConfig>());
    let mut out = ParsedFile::default();

    // A section that is not a mapping (`routers: [a, b]`) is left in place, so the skeleton's
    // decode below reports it with its key instead of it vanishing silently.
    let take = |doc: &mut Value, a: &str, b: &str| -> Map<String, Value> {
        let Some(section) = doc.get_mut(a).and_then(|s| s.as_object_mut()) else {
            return Map::new();
        };
        match section.remove(b) {
            Some(Value::Object(m)) => m,
            Some(other) if !other.is_null() => {
                section.insert(b.to_string(), other);
                Map::new()
            }
            _ => Map::new(),
        }
    };
    let routers = take(&mut doc, "http", "routers");
    let services = take(&mut doc, "http", "services");
    let middlewares = take(&mut doc, "http", "middlewares");
    let transports = take(&mut doc, "http", "serversTransports");
    let options = take(&mut doc, "tls", "options");
    let stores = take(&mut doc, "tls", "stores");
    let certificates = match doc.get_mut("tls").and_then(|s| s.as_object_mut()) {
        Some(tls) => match tls.remove("certificates") {
            Some(Value::Array(a)) => a,
            Some(other) if !other.is_null() => {
                tls.insert("certificates".into(), other);
                Vec::new()
            }
            _ => Vec::new(),
        },
        None => Vec::new(),
    };

    let mut items = Items {
        problems: &mut key_problems,
        out: &mut out.problems,
    };
    for (name, v) in routers {
        if let Some(r) = items.decode::<Router>(ItemKind::Router, "http.routers", &name, v) {
            out.config.http.routers.insert(name, r);
        }
    }
    for (name, v) in services {
        if let Some(s) = items.decode::<Service>(ItemKind::Service, "http.services", &name, v) {
            out.config.http.services.insert(name, s);
        }
    }
    for (name, v) in middlewares {
        if let Some(m) =
            items.decode::<MiddlewareSpec>(ItemKind::Middleware, "http.middlewares", &name, v)
        {
            out.config.http.middlewares.insert(name, m);
        }
    }
    for (name, v) in transports {
        if let Some(t) = items.decode::<ServersTransport>(
            ItemKind::ServersTransport,
            "http.serversTransports",
            &name,
            v,
        ) {
            out.config.http.servers_transports.insert(name, t);
        }
    }
    for (name, v) in options {
        if let Some(o) = items.decode::<TlsOptions>(ItemKind::TlsOptions, "tls.options", &name, v) {
            out.config.tls.options.insert(name, o);
        }
    }
    for (name, v) in stores {
        if let Some(s) = items.decode::<TlsStore>(ItemKind::TlsStore, "tls.stores", &name, v) {
            out.config.tls.stores.insert(name, s);
        }
    }
    for (i, v) in certificates.into_iter().enumerate() {
        let base = format!("tls.certificates[{i}]");
        if let Some(c) =
            items.decode_at::<TlsCertificate>(ItemKind::TlsCertificate, &base, &base, v)
        {
            out.config.tls.certificates.push(c);
        }
    }
    // What is left: the skeleton (tcp/udp sections, empty sections) and problems not inside an item.
    match keys::deserialize_at::<DynamicConfig>(doc, "") {
        Ok(rest) => {
            // wharf routes HTTP only: each TCP/UDP item is reported, never dropped silently.
            for (proto, section) in [("tcp", &rest.tcp), ("udp", &rest.udp)] {
                let Some(Value::Object(section)) = section else {
                    continue;
                };
                for (kind, item_kind) in [
                    ("routers", ItemKind::Router),
                    ("services", ItemKind::Service),
                    ("middlewares", ItemKind::Middleware),
                ] {
                    let Some(Value::Object(items)) = section.get(kind) else {
                        continue;
                    };
                    for name in items.keys() {
                        out.problems.push(ItemProblem {
                            kind: item_kind,
                            name: name.clone(),
                            problem: KeyProblem {
                                path: format!("{proto}.{kind}.{name}"),
                                message: format!(
                                    "{} {kind} are not supported yet",
                                    proto.to_uppercase()
                                ),
                                line: None,
                            },
                        });
                    }
                }
            }
            out.config.tcp = rest.tcp;
            out.config.udp = rest.udp;
        }
        Err(p) => key_problems.push(p),
    }
    for p in key_problems {
        out.problems.push(ItemProblem {
            kind: ItemKind::Source,
            name: String::new(),
            problem: p,
        });
    }
    for p in &mut out.problems {
        if p.problem.line.is_none() {
            p.problem.line = find_line(text, format, &p.problem.path);
        }
    }
    Ok(out)
}

/// Traefik renders dynamic files as Go templates before parsing them. wharf supports the forms
/// used in practice: `{{ env "NAME" }}` and `{{ env "NAME" | default "value" }}` (also
/// `{{ default "value" (env "NAME") }}`); any other action is an error naming its line, rather
/// than text silently left in the config. Substitution stays on its line, so lines still match.
pub fn render_templates(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, KeyProblem> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let line = text.len() - rest.len() + start;
        let line = text[..line].matches('\n').count() + 1;
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(template_error(line, "`{{` without a closing `}}`"));
        };
        let mut action = &after[..end];
        // Go's trim markers: `{{- ` trims the white space before, ` -}}` the white space after.
        if let Some(a) = action.strip_prefix("- ") {
            action = a;
            out.truncate(out.trim_end().len());
        }
        let trim_after = action.ends_with(" -");
        if trim_after {
            action = &action[..action.len() - 2];
        }
        let action = action.trim();
        match eval_action(action, env) {
            Ok(v) => out.push_str(&v),
            Err(why) => {
                return Err(template_error(
                    line,
                    &format!("template action `{{{{ {action} }}}}`: {why}"),
                ))
            }
        }
        rest = &after[end + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn template_error(line: usize, message: &str) -> KeyProblem {
    KeyProblem {
        path: String::new(),
        message: format!(
            "{message} (wharf supports {{{{ env \"NAME\" }}}} and {{{{ env \"NAME\" | default \"value\" }}}})"
        ),
        line: Some(line),
    }
}

/// Evaluates the supported template subset.
fn eval_action(action: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if action.starts_with("/*") && action.ends_with("*/") {
        return Ok(String::new()); // a template comment
    }
    let tokens = template_tokens(action)?;
    let t: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let lit = |s: &str| -> Option<String> {
        let q = s.chars().next()?;
        if (q == '"' || q == '`') && s.len() >= 2 && s.ends_with(q) {
            Some(
                s[1..s.len() - 1]
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\"),
            )
        } else {
            None
        }
    };
    let env_of = |name: &str| -> Result<String, String> {
        let n = lit(name).ok_or_else(|| "env takes a quoted variable name".to_string())?;
        Ok(env(&n).unwrap_or_default())
    };
    match t.as_slice() {
        ["env", name] => env_of(name),
        ["env", name, "|", "default", d] => {
            let v = env_of(name)?;
            let d = lit(d).ok_or_else(|| "default takes a quoted value".to_string())?;
            Ok(if v.is_empty() { d } else { v })
        }
        ["default", d, "(", "env", name, ")"] => {
            let v = env_of(name)?;
            let d = lit(d).ok_or_else(|| "default takes a quoted value".to_string())?;
            Ok(if v.is_empty() { d } else { v })
        }
        _ => Err("not supported".to_string()),
    }
}

fn template_tokens(action: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            let mut s = String::new();
            s.push(c);
            chars.next();
            let mut closed = false;
            while let Some(d) = chars.next() {
                s.push(d);
                if d == '\\' && c == '"' {
                    if let Some(e) = chars.next() {
                        s.push(e);
                    }
                } else if d == c {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err("unterminated string".to_string());
            }
            out.push(s);
        } else if c == '|' || c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
        } else {
            let mut s = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() || matches!(d, '|' | '(' | ')' | '"' | '`') {
                    break;
                }
                s.push(d);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// Decodes items one by one, attributing canonicalization problems to the item they sit in.
struct Items<'a> {
    problems: &'a mut Vec<KeyProblem>,
    out: &'a mut Vec<ItemProblem>,
}

impl Items<'_> {
    fn decode<T: DeserializeOwned>(
        &mut self,
        kind: ItemKind,
        section: &str,
        name: &str,
        v: Value,
    ) -> Option<T> {
        self.decode_at(kind, name, &format!("{section}.{name}"), v)
    }

    fn decode_at<T: DeserializeOwned>(
        &mut self,
        kind: ItemKind,
        name: &str,
        base: &str,
        v: Value,
    ) -> Option<T> {
        let inside = |p: &KeyProblem| {
            p.path == base
                || (p.path.starts_with(base)
                    && matches!(p.path.as_bytes().get(base.len()), Some(b'.' | b'[')))
        };
        let mine: Vec<KeyProblem> = self
            .problems
            .iter()
            .filter(|p| inside(p))
            .cloned()
            .collect();
        self.problems.retain(|p| !inside(p));
        let failed = !mine.is_empty();
        for p in mine {
            self.out.push(ItemProblem {
                kind,
                name: name.to_string(),
                problem: p,
            });
        }
        match keys::deserialize_at::<T>(v, base) {
            Ok(t) if !failed => Some(t),
            Ok(_) => None,
            Err(p) => {
                self.out.push(ItemProblem {
                    kind,
                    name: name.to_string(),
                    problem: p,
                });
                None
            }
        }
    }
}

fn with_origin(mut p: KeyProblem, origin: &str) -> KeyProblem {
    p.message = match p.line {
        Some(l) => format!("{origin}:{l}: {}", p.message),
        None => format!("{origin}: {}", p.message),
    };
    p
}

/// Text → JSON tree (YAML merge keys applied, scalar map keys stringified). Syntax errors carry
/// their line.
fn to_value(text: &str, format: Format) -> Result<Value, KeyProblem> {
    match format {
        Format::Yaml => {
            let mut y: serde_norway::Value =
                serde_norway::from_str(text).map_err(|e| KeyProblem {
                    path: String::new(),
                    line: e.location().map(|l| l.line()),
                    message: format!("YAML syntax error: {e}"),
                })?;
            y.apply_merge().map_err(|e| KeyProblem {
                path: String::new(),
                line: e.location().map(|l| l.line()),
                message: format!("YAML merge key error: {e}"),
            })?;
            Ok(yaml_to_json(y))
        }
        Format::Toml => toml::from_str::<Value>(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
            KeyProblem {
                path: String::new(),
                line,
                message: format!("TOML syntax error: {}", e.message()),
            }
        }),
    }
}

fn yaml_to_json(y: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    // NaN/inf have no JSON form; keep the YAML spelling for the error message.
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    other => serde_json::to_string(&yaml_to_json(other)).unwrap_or_default(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// Finds the line of a dotted key path in the source text (best effort: keys matched in order,
/// ignoring case; array indexes skipped). Returns the deepest key found.
pub fn find_line(text: &str, format: Format, path: &str) -> Option<usize> {
    let segs: Vec<&str> = path
        .split(['.', '['])
        .map(|s| s.trim_end_matches(']'))
        .filter(|s| !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    if segs.is_empty() {
        return None;
    }
    let mut idx = 0;
    let mut last = None;
    for (n, line) in text.lines().enumerate() {
        for word in line_keys(line, format) {
            if idx < segs.len() && word.eq_ignore_ascii_case(segs[idx]) {
                idx += 1;
                last = Some(n + 1);
            }
        }
        if idx == segs.len() {
            break;
        }
    }
    last
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(s)
}

/// The keys a line defines (YAML `key:`, TOML `[a.b]` / `a.b = v`).
fn line_keys(line: &str, format: Format) -> Vec<&str> {
    let mut t = line.trim();
    if t.starts_with('#') || t.is_empty() {
        return Vec::new();
    }
    match format {
        Format::Yaml => {
            while let Some(r) = t.strip_prefix("- ") {
                t = r.trim_start();
            }
            let key_end = t.char_indices().find(|&(i, c)| {
                c == ':'
                    && t[i + 1..]
                        .chars()
                        .next()
                        .is_none_or(|n| n == ' ' || n == '\t')
            });
            match key_end {
                Some((i, _)) => vec![unquote(&t[..i])],
                None => Vec::new(),
            }
        }
        Format::Toml => {
            if let Some(h) = t.strip_prefix('[') {
                let h = h.trim_start_matches('[');
                let end = h.find(']').unwrap_or(h.len());
                h[..end].split('.').map(unquote).collect()
            } else if let Some(eq) = t.find('=') {
                t[..eq].split('.').map(unquote).collect()
            } else {
                Vec::new()
            }
        }
    }
}

/// Merges files in the given order: the first definition of a name wins; an identical
/// redefinition is fine; a different one is a warning on that item naming both files.
pub fn merge(files: &[(String, ParsedFile)]) -> (DynamicConfig, Vec<Problem>) {
    let mut cfg = DynamicConfig::default();
    let mut problems = Vec::new();
    let mut owners: BTreeMap<(ItemKind, String), String> = BTreeMap::new();
    for (origin, file) in files {
        for p in &file.problems {
            problems.push(item_problem_to_problem(p, origin));
        }
        let c = &file.config;
        merge_map(
            &mut cfg.http.routers,
            &c.http.routers,
            ItemKind::Router,
            origin,
            &mut owners,
            &mut problems,
        );
        merge_map(
            &mut cfg.http.services,
            &c.http.services,
            ItemKind::Service,
            origin,
            &mut owners,
            &mut problems,
        );
        merge_map(
            &mut cfg.http.middlewares,
            &c.http.middlewares,
            ItemKind::Middleware,
            origin,
            &mut owners,
            &mut problems,
        );
        merge_map(
            &mut cfg.http.servers_transports,
            &c.http.servers_transports,
            ItemKind::ServersTransport,
            origin,
            &mut owners,
            &mut problems,
        );
        merge_map(
            &mut cfg.tls.options,
            &c.tls.options,
            ItemKind::TlsOptions,
            origin,
            &mut owners,
            &mut problems,
        );
        merge_map(
            &mut cfg.tls.stores,
            &c.tls.stores,
            ItemKind::TlsStore,
            origin,
            &mut owners,
            &mut problems,
        );
        for cert in &c.tls.certificates {
            if !cfg.tls.certificates.contains(cert) {
                cfg.tls.certificates.push(cert.clone());
            }
        }
        cfg.tcp = merge_json(cfg.tcp.take(), c.tcp.clone());
        cfg.udp = merge_json(cfg.udp.take(), c.udp.clone());
    }
    (cfg, problems)
}

fn merge_map<T: Clone + PartialEq>(
    into: &mut BTreeMap<String, T>,
    from: &BTreeMap<String, T>,
    kind: ItemKind,
    origin: &str,
    owners: &mut BTreeMap<(ItemKind, String), String>,
    problems: &mut Vec<Problem>,
) {
    for (name, item) in from {
        match into.get(name) {
            None => {
                into.insert(name.clone(), item.clone());
                owners.insert((kind, name.clone()), origin.to_string());
            }
            Some(existing) if existing == item => {}
            Some(_) => {
                let first = owners
                    .get(&(kind, name.clone()))
                    .cloned()
                    .unwrap_or_default();
                problems.push(
                    Problem::warning(
                        kind,
                        name.clone(),
                        format!("`{name}` is defined differently in {first} and {origin}; the definition in {first} is used"),
                    )
                    .at(origin.to_string()),
                );
            }
        }
    }
}

/// Deep merge of the tcp/udp sections (kept only to be reported as unsupported).
fn merge_json(a: Option<Value>, b: Option<Value>) -> Option<Value> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(Value::Object(mut x)), Some(Value::Object(y))) => {
            for (k, v) in y {
                let merged = merge_json(x.remove(&k), Some(v));
                if let Some(m) = merged {
                    x.insert(k, m);
                }
            }
            Some(Value::Object(x))
        }
        (a, Some(_)) => a,
    }
}

fn item_problem_to_problem(p: &ItemProblem, origin: &str) -> Problem {
    let location = match p.problem.line {
        Some(l) => format!("{origin}:{l}"),
        None => origin.to_string(),
    };
    let name = if p.kind == ItemKind::Source {
        origin.to_string()
    } else {
        p.name.clone()
    };
    Problem::error(p.kind, name, p.problem.message.clone()).at(location)
}

// ---------------------------------------------------------------------------------------------
// Reading files.

/// The files the settings name, in path order: the file itself, or every .yml/.yaml/.toml under
/// the directory (recursively, skipping names that start with `.`).
pub fn list_files(settings: &FileProviderSettings) -> Result<Vec<PathBuf>, String> {
    if let Some(dir) = &settings.directory {
        let mut out = Vec::new();
        walk_dir(dir, &mut out, 0)?;
        out.sort();
        Ok(out)
    } else if let Some(f) = &settings.filename {
        Ok(vec![f.clone()])
    } else {
        Err("the file provider needs `filename` or `directory`".into())
    }
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Real directories are walked (not symlinked ones: no loops); symlinked files are read.
        let is_real_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_real_dir {
            if depth < 16 {
                walk_dir(&path, out, depth + 1)?;
            }
            continue;
        }
        if Format::from_path(&path).is_some()
            && std::fs::metadata(&path)
                .map(|m| m.is_file())
                .unwrap_or(false)
        {
            out.push(path);
        }
    }
    Ok(())
}

fn text_digest(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// What the provider knows about one file.
#[derive(Debug, Default)]
struct FileState {
    /// A digest of the text last read: the same text is not parsed again.
    digest: Option<u64>,
    last_good: Option<ParsedFile>,
    /// Why the current content is not used (syntax error, unreadable).
    error: Option<KeyProblem>,
}

/// The provider's memory across reloads: each file's last good parse.
#[derive(Debug, Default)]
struct Loader {
    settings: FileProviderSettings,
    files: BTreeMap<PathBuf, FileState>,
    list_error: Option<String>,
}

impl Loader {
    /// Reads the files again; whether anything changed (a file's text, the set of files, the
    /// listing error). The watch reports every change in the watched directory (a log file
    /// written next to the configuration, an editor's swap file): those cost a read and a
    /// digest here, not a parse, a merge and a recompile of the whole configuration.
    fn reload(&mut self) -> bool {
        let paths = match list_files(&self.settings) {
            Ok(p) => {
                let changed = self.list_error.take().is_some();
                (p, changed)
            }
            Err(e) => {
                // Keep every file's last good view; the directory may come back.
                let changed = self.list_error.as_ref() != Some(&e);
                self.list_error = Some(e);
                return changed;
            }
        };
        let (paths, mut changed) = paths;
        let before = self.files.len();
        self.files.retain(|p, _| paths.contains(p));
        changed |= self.files.len() != before;
        for path in paths {
            let state = self.files.entry(path.clone()).or_default();
            let Some(format) = Format::from_path(&path) else {
                state.error = Some(KeyProblem {
                    path: String::new(),
                    message: "unsupported file extension (use .yml, .yaml or .toml)".into(),
                    line: None,
                });
                continue;
            };
            match std::fs::read_to_string(&path) {
                Err(e) => {
                    let error = Some(KeyProblem {
                        path: String::new(),
                        message: format!("cannot read: {e}"),
                        line: None,
                    });
                    changed |= state.error != error || state.digest.is_some();
                    state.error = error;
                    state.digest = None;
                }
                Ok(text) => {
                    let digest = text_digest(&text);
                    if state.digest == Some(digest) {
                        continue;
                    }
                    changed = true;
                    state.digest = Some(digest);
                    match parse_file(&text, format) {
                        Ok(parsed) => {
                            state.last_good = Some(parsed);
                            state.error = None;
                        }
                        Err(p) => state.error = Some(p),
                    }
                }
            }
        }
        changed
    }

    /// The merged view and, when something is broken, the status message.
    fn view(&self) -> (Option<DynamicConfig>, Option<String>) {
        let good: Vec<(String, ParsedFile)> = self
            .files
            .iter()
            .filter_map(|(p, s)| s.last_good.clone().map(|g| (p.display().to_string(), g)))
            .collect();
        let (mut cfg, mut problems) = merge(&good);
        let mut errors: Vec<String> = Vec::new();
        if let Some(e) = &self.list_error {
            errors.push(e.clone());
        }
        for (path, state) in &self.files {
            if let Some(err) = &state.error {
                let origin = path.display().to_string();
                let location = match err.line {
                    Some(l) => format!("{origin}:{l}"),
                    None => origin.clone(),
                };
                let kept = if state.last_good.is_some() {
                    "; its last good content is kept"
                } else {
                    ""
                };
                let message = format!("{}{kept}", err.message);
                errors.push(format!("{location}: {message}"));
                problems.push(Problem::error(ItemKind::Source, origin, message).at(location));
            }
        }
        cfg.problems = problems;
        // Publish only views built from at least one successful parse (or an empty directory).
        let publishable = !good.is_empty() || (self.files.is_empty() && self.list_error.is_none());
        let status = if errors.is_empty() {
            None
        } else {
            Some(errors.join("; "))
        };
        (publishable.then_some(cfg), status)
    }
}

/// Reads the configured file or directory once (for `wharf check`): the merged config and every
/// problem, each message starting with `file:line:`.
pub fn load_once(settings: &FileProviderSettings) -> (DynamicConfig, Vec<KeyProblem>) {
    let mut problems = Vec::new();
    let paths = match list_files(settings) {
        Ok(p) => p,
        Err(e) => {
            return (
                DynamicConfig::default(),
                vec![KeyProblem {
                    path: String::new(),
                    message: e,
                    line: None,
                }],
            );
        }
    };
    let mut good = Vec::new();
    for path in paths {
        let origin = path.display().to_string();
        let Some(format) = Format::from_path(&path) else {
            // Only a `filename` can get here (a directory lists .yml/.yaml/.toml only).
            problems.push(KeyProblem {
                path: String::new(),
                message: format!("{origin}: unsupported file extension (use .yml, .yaml or .toml)"),
                line: None,
            });
            continue;
        };
        match std::fs::read_to_string(&path) {
            Err(e) => problems.push(KeyProblem {
                path: String::new(),
                message: format!("{origin}: cannot read: {e}"),
                line: None,
            }),
            Ok(text) => match parse_file(&text, format) {
                Err(p) => problems.push(with_origin(p, &origin)),
                Ok(parsed) => {
                    problems.extend(
                        parsed
                            .problems
                            .iter()
                            .map(|p| with_origin(p.problem.clone(), &origin)),
                    );
                    good.push((origin, parsed));
                }
            },
        }
    }
    let (mut cfg, merge_problems) = merge(&good);
    // Item problems were reported above; merge adds only the redefinition warnings.
    for p in merge_problems
        .iter()
        .filter(|p| p.severity == crate::model::Severity::Warning)
    {
        problems.push(KeyProblem {
            path: String::new(),
            message: p.to_string(),
            line: None,
        });
    }
    cfg.problems = merge_problems;
    (cfg, problems)
}

// ---------------------------------------------------------------------------------------------
// The client loop.

/// Starts the file provider on the current tokio runtime. It publishes after the first read and,
/// with `watch`, after every change in the watched directory (the file's directory in `filename`
/// mode, so atomic renames and ConfigMap symlink swaps are seen).
pub fn spawn(settings: FileProviderSettings) -> ProviderHandle {
    let (tx, handle) = provider::channel("file");
    tokio::spawn(run(settings, tx));
    handle
}

/// Coalesces a burst of events (an editor's write + rename) into one reload.
const SETTLE: StdDuration = StdDuration::from_millis(50);

async fn run(settings: FileProviderSettings, tx: ProviderSender) {
    let watch = settings.watch;
    let watch_dir = settings
        .directory
        .clone()
        .or_else(|| {
            settings
                .filename
                .as_ref()
                .map(|f| f.parent().map(Path::to_path_buf).unwrap_or_default())
        })
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            }
        });
    let recursive = settings.directory.is_some();
    let mut loader = Loader {
        settings,
        ..Loader::default()
    };
    loader = reload_and_publish(loader, &tx).await;
    if !watch {
        return;
    }
    let Some(dir) = watch_dir else { return };
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<()>();
    let mut backoff = StdDuration::from_millis(500);
    // Keep the watcher alive for the life of the loop.
    let _watcher = loop {
        match make_watcher(&dir, recursive, ev_tx.clone()) {
            Ok(w) => break w,
            Err(e) => {
                tx.fail(format!("cannot watch {}: {e}", dir.display()));
                tokio::select! {
                    _ = tx.config.closed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(StdDuration::from_secs(30));
                loader = reload_and_publish(loader, &tx).await;
            }
        }
    };
    // The directory may have changed between the first read and the watch.
    loader = reload_and_publish(loader, &tx).await;
    loop {
        tokio::select! {
            _ = tx.config.closed() => return,
            ev = ev_rx.recv() => {
                if ev.is_none() {
                    return;
                }
            }
        }
        tokio::time::sleep(SETTLE).await;
        while ev_rx.try_recv().is_ok() {}
        loader = reload_and_publish(loader, &tx).await;
    }
}

fn make_watcher(
    dir: &Path,
    recursive: bool,
    events: mpsc::UnboundedSender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Any event (or watch error) means "look again": the loader re-derives everything.
        let interesting = match &res {
            Ok(ev) => !matches!(ev.kind, notify::EventKind::Access(_)),
            Err(_) => true,
        };
        if interesting {
            let _ = events.send(());
        }
    })?;
    let mode = if recursive {
        notify::RecursiveMode::Recursive
    } else {
        notify::RecursiveMode::NonRecursive
    };
    w.watch(dir, mode)?;
    Ok(w)
}

async fn reload_and_publish(loader: Loader, tx: &ProviderSender) -> Loader {
    // The first view is published even when there is nothing (an empty directory is a view).
    let first = matches!(&*tx.status.borrow(), provider::ProviderStatus::Starting);
    // Kept outside the blocking task: if it panicked, the loader inside is lost, and a loader
    // without its settings would list no file and publish an empty view at the next event.
    let settings = loader.settings.clone();
    // File reads are blocking; keep them off the async workers.
    let joined = tokio::task::spawn_blocking(move || {
        let mut loader = loader;
        let changed = loader.reload();
        let view = (changed || first).then(|| loader.view());
        (loader, view)
    })
    .await;
    let (loader, (cfg, status)) = match joined {
        Ok((loader, Some(view))) => (loader, view),
        // Nothing changed: the published view and status stand.
        Ok((loader, None)) => return loader,
        Err(e) => {
            // The published view stands; the next event reads every file again.
            tx.fail(format!("file provider reload failed: {e}"));
            return Loader {
                settings,
                ..Loader::default()
            };
        }
    };
    let published = cfg.is_some();
    if let Some(cfg) = cfg {
        tx.publish(cfg);
    }
    if let Some(msg) = status {
        let repeated =
            matches!(&*tx.status.borrow(), provider::ProviderStatus::Error(m) if *m == msg);
        if !published && !repeated {
            // Nothing usable (the only file is broken, unreadable or of an unknown type): the
            // problems are in no view, so they would reach neither the log nor a router.
            tracing::error!(provider = "file", "{msg}");
        }
        tx.fail(msg);
    }
    loader
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_parses_with_case_insensitive_keys() {
        let text =
            "http:\n  Routers:\n    api:\n      RULE: Host(`a`)\n      service: s\n      tls: {}\n";
        let cfg = parse_str(text, Format::Yaml, "a.yml").unwrap();
        assert_eq!(cfg.http.routers["api"].rule, "Host(`a`)");
        assert!(cfg.http.routers["api"].tls.is_some());
    }

    #[test]
    fn unknown_key_has_path_line_and_suggestion() {
        let text = "http:\n  routers:\n    api:\n      rule: Host(`a`)\n      servce: s\n    ok:\n      rule: Host(`b`)\n";
        let err = parse_str(text, Format::Yaml, "dyn.yml").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].path, "http.routers.api.servce");
        assert_eq!(err[0].line, Some(5));
        assert_eq!(
            err[0].message,
            "dyn.yml:5: unknown key `http.routers.api.servce`; did you mean `service`?"
        );
        // Lenient: the other router still decodes.
        let parsed = parse_file(text, Format::Yaml).unwrap();
        assert!(parsed.config.http.routers.contains_key("ok"));
        assert!(!parsed.config.http.routers.contains_key("api"));
        assert_eq!(parsed.problems[0].kind, ItemKind::Router);
        assert_eq!(parsed.problems[0].name, "api");
    }

    /// The watch fires for anything in the directory (an access log next to the file wrote a
    /// line): the same text is neither parsed nor published again.
    #[test]
    fn a_reload_of_unchanged_files_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dynamic.yml");
        std::fs::write(&file, "http:\n  routers:\n    a:\n      rule: Host(`a`)\n").unwrap();
        let mut loader = Loader {
            settings: FileProviderSettings {
                filename: Some(file.clone()),
                ..Default::default()
            },
            ..Loader::default()
        };
        assert!(loader.reload(), "the first read is a change");
        assert!(!loader.reload(), "same text");
        std::fs::write(dir.path().join("access.log"), "a line\n").unwrap();
        assert!(!loader.reload(), "another file of the directory");
        std::fs::write(&file, "http:\n  routers:\n    b:\n      rule: Host(`b`)\n").unwrap();
        assert!(loader.reload(), "new text");
        let (cfg, status) = loader.view();
        assert!(cfg.unwrap().http.routers.contains_key("b"));
        assert_eq!(status, None);
        // A broken file is a change; the same broken text again is not.
        std::fs::write(&file, "http:\n  routers: [\n").unwrap();
        assert!(loader.reload());
        assert!(!loader.reload());
        assert!(loader.view().1.is_some());
        std::fs::remove_file(&file).unwrap();
        assert!(loader.reload(), "the file went away");
    }

    #[test]
    fn toml_unknown_key_line() {
        let text =
            "[http.routers.a]\n  rule = \"Host(`a`)\"\n[http.routers.b]\n  rulee = \"Host(`b`)\"\n";
        let err = parse_str(text, Format::Toml, "d.toml").unwrap_err();
        assert_eq!(err[0].line, Some(4));
        assert!(
            err[0].message.contains("did you mean `rule`"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn syntax_errors_carry_lines() {
        let err = parse_str("http:\n  routers:\n    a: [\n", Format::Yaml, "x.yml").unwrap_err();
        assert!(err[0].line.is_some(), "{err:?}");
        assert!(err[0].message.starts_with("x.yml:"), "{}", err[0].message);
        let err = parse_str("[http]\nrouters = = 1\n", Format::Toml, "x.toml").unwrap_err();
        assert_eq!(err[0].line, Some(2), "{err:?}");
    }

    #[test]
    fn type_error_disables_only_its_item() {
        let text = "http:\n  routers:\n    a:\n      rule: x\n      priority: high\n    b:\n      rule: y\n";
        let parsed = parse_file(text, Format::Yaml).unwrap();
        assert!(parsed.config.http.routers.contains_key("b"));
        assert_eq!(parsed.problems.len(), 1);
        assert_eq!(parsed.problems[0].problem.path, "http.routers.a.priority");
        assert_eq!(parsed.problems[0].problem.line, Some(5));
    }

    #[test]
    fn yaml_anchors_and_merge_keys() {
        let text = "x-common: &common\n  passHostHeader: false\nhttp:\n  services:\n    s:\n      loadBalancer:\n        <<: *common\n        servers:\n          - url: http://a\n";
        let parsed = parse_file(text, Format::Yaml).unwrap();
        // `x-common` is an unknown top-level key: reported, the rest decodes.
        let lb = parsed.config.http.services["s"]
            .load_balancer
            .as_ref()
            .unwrap();
        assert!(!lb.pass_host_header);
        assert_eq!(parsed.problems.len(), 1);
        assert_eq!(parsed.problems[0].kind, ItemKind::Source);
    }

    #[test]
    fn a_section_that_is_not_a_mapping_is_reported() {
        // Found trying wharf as a Traefik user: these files were "configuration OK" and their
        // sections vanished (Traefik refuses them).
        for (text, path) in [
            ("http:\n  routers: [1, 2]\n", "http.routers"),
            ("http:\n  services: abc\n", "http.services"),
            ("tls:\n  certificates: {certFile: a}\n", "tls.certificates"),
        ] {
            let err = parse_str(text, Format::Yaml, "w.yml").unwrap_err();
            assert_eq!(err.len(), 1, "{text}: {err:?}");
            assert!(err[0].path.starts_with(path), "{text}: {err:?}");
            assert_eq!(err[0].line, Some(2), "{text}: {err:?}");
        }
    }

    #[test]
    fn tcp_and_udp_items_are_reported_as_unsupported() {
        let text = "tcp:\n  routers:\n    t:\n      rule: HostSNI(`*`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - address: 127.0.0.1:1\nudp:\n  routers:\n    u:\n      service: s\n";
        let parsed = parse_file(text, Format::Yaml).unwrap();
        let got: Vec<(ItemKind, &str, &str, Option<usize>)> = parsed
            .problems
            .iter()
            .map(|p| {
                (
                    p.kind,
                    p.name.as_str(),
                    p.problem.message.as_str(),
                    p.problem.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    ItemKind::Router,
                    "t",
                    "TCP routers are not supported yet",
                    Some(3)
                ),
                (
                    ItemKind::Service,
                    "s",
                    "TCP services are not supported yet",
                    Some(7)
                ),
                (
                    ItemKind::Router,
                    "u",
                    "UDP routers are not supported yet",
                    Some(13)
                ),
            ]
        );
    }

    #[test]
    fn check_reports_a_filename_of_unknown_type() {
        let dir = std::env::temp_dir().join(format!("wharf-ext-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dynamic.json");
        std::fs::write(&file, "{}").unwrap();
        let (_, problems) = load_once(&FileProviderSettings {
            filename: Some(file.clone()),
            ..Default::default()
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("unsupported file extension"),
            "{problems:?}"
        );
    }

    #[test]
    fn empty_file_is_empty_config() {
        assert!(parse_str("", Format::Yaml, "e.yml").unwrap().is_empty());
        assert!(parse_str("# nothing\n", Format::Toml, "e.toml")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn merge_first_wins_and_warns_on_difference() {
        let a = parse_file("http:\n  routers:\n    r:\n      rule: A\n", Format::Yaml).unwrap();
        let b = parse_file(
            "http:\n  routers:\n    r:\n      rule: B\n    s:\n      rule: S\n",
            Format::Yaml,
        )
        .unwrap();
        let same = parse_file("http:\n  routers:\n    r:\n      rule: A\n", Format::Yaml).unwrap();
        let (cfg, problems) = merge(&[("a.yml".into(), a.clone()), ("same.yml".into(), same)]);
        assert!(problems.is_empty());
        assert_eq!(cfg.http.routers["r"].rule, "A");
        let (cfg, problems) = merge(&[("a.yml".into(), a), ("b.yml".into(), b)]);
        assert_eq!(cfg.http.routers["r"].rule, "A");
        assert_eq!(cfg.http.routers["s"].rule, "S");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].name, "r");
        assert!(problems[0].message.contains("a.yml and b.yml"));
    }

    #[test]
    fn env_templates_render_in_place() {
        let env = |n: &str| match n {
            "HOST" => Some("a.example.com".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let text = "rule: Host(`{{ env \"HOST\" }}`)\nport: \"{{- env \"PORT\" | default \"8080\" -}}\"\nx: {{ default `d` (env \"EMPTY\") }}\ny: a  {{- env \"HOST\" -}}  \n";
        let out = render_templates(text, &env).unwrap();
        assert_eq!(
            out,
            "rule: Host(`a.example.com`)\nport: \"8080\"\nx: d\ny: aa.example.com"
        );
        let err = render_templates("a: 1\nb: {{ .Values.x }}\n", &env).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("not supported"), "{}", err.message);
        assert!(render_templates("a: {{ env \"X\"\n", &env).is_err());
        assert_eq!(
            render_templates("{{/* note */}}a: 1", &env).unwrap(),
            "a: 1"
        );
        // No template: unchanged.
        assert_eq!(
            render_templates("q: /{status}.html", &env).unwrap(),
            "q: /{status}.html"
        );
    }

    #[test]
    fn find_line_matches_nested_keys() {
        let text = "http:\n  routers:\n    a:\n      rule: x\n    b:\n      rule: y\n";
        assert_eq!(
            find_line(text, Format::Yaml, "http.routers.b.rule"),
            Some(6)
        );
        assert_eq!(find_line(text, Format::Yaml, "http.routers.a"), Some(3));
        assert_eq!(find_line(text, Format::Yaml, "tls"), None);
    }
}
