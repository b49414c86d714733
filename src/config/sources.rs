//! The three static-configuration sources as raw JSON trees, before normalization and merging:
//! the file (YAML or TOML, found where Traefik looks), command-line flags, and `TRAEFIK_*` /
//! `WHARF_*` environment variables. Each leaf remembers where it came from, so every problem can
//! name its file and line, its flag or its variable.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigProblem;

/// File names tried, in order, in each directory of [`search_dirs`].
pub const FILE_NAMES: &[&str] = &[
    "traefik.yml",
    "traefik.yaml",
    "traefik.toml",
    "wharf.yml",
    "wharf.yaml",
    "wharf.toml",
];

/// Where Traefik looks for its static file when `--configFile` is absent: `/etc/traefik/`,
/// `$XDG_CONFIG_HOME/`, `$HOME/.config/`, and the working directory. wharf also accepts
/// `wharf.{yml,yaml,toml}` in the same places (a `traefik.*` file wins within one directory).
pub fn search_dirs(env: &[(String, String)]) -> Vec<PathBuf> {
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let mut dirs = vec![PathBuf::from("/etc/traefik")];
    if let Some(x) = get("XDG_CONFIG_HOME") {
        dirs.push(PathBuf::from(x));
    }
    if let Some(h) = get("HOME") {
        dirs.push(Path::new(&h).join(".config"));
    }
    dirs.push(PathBuf::from("."));
    dirs
}

/// The first existing file of [`FILE_NAMES`] in [`search_dirs`].
pub fn find_config_file(env: &[(String, String)]) -> Option<PathBuf> {
    for dir in search_dirs(env) {
        for name in FILE_NAMES {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// File formats wharf reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    /// By extension; anything that is not `.toml` is read as YAML (as Traefik does for `.yml`).
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Yaml,
        }
    }
}

/// A parsed static file: its raw tree and its text (to find the line of a key).
#[derive(Clone, Debug)]
pub struct FileSource {
    pub path: PathBuf,
    pub format: Format,
    pub text: String,
    pub tree: Value,
}

impl FileSource {
    pub fn read(path: &Path) -> Result<FileSource, ConfigProblem> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigProblem {
            origin: super::Origin::File(path.to_path_buf()),
            key: String::new(),
            line: None,
            message: format!("cannot read the configuration file: {e}"),
        })?;
        FileSource::parse(path, &text)
    }

    /// Parses YAML or TOML text (by the path's extension) into a raw tree.
    pub fn parse(path: &Path, text: &str) -> Result<FileSource, ConfigProblem> {
        let format = Format::of(path);
        let syntax = |line: Option<usize>, message: String| ConfigProblem {
            origin: super::Origin::File(path.to_path_buf()),
            key: String::new(),
            line,
            message,
        };
        let tree = match format {
            Format::Yaml => {
                if text.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    match serde_norway::from_str::<Value>(text) {
                        Ok(v) => v,
                        Err(e) => {
                            let line = e.location().map(|l| l.line());
                            return Err(syntax(line, format!("YAML syntax error: {e}")));
                        }
                    }
                }
            }
            Format::Toml => match toml::from_str::<toml::Table>(text) {
                Ok(t) => toml_to_json(toml::Value::Table(t)),
                Err(e) => {
                    let line = e.span().map(|s| line_of_offset(text, s.start));
                    return Err(syntax(line, format!("TOML syntax error: {}", e.message())));
                }
            },
        };
        let tree = match tree {
            Value::Null => Value::Object(Map::new()),
            t @ Value::Object(_) => t,
            _ => {
                return Err(syntax(
                    Some(1),
                    "the static configuration must be a map of keys".into(),
                ))
            }
        };
        Ok(FileSource {
            path: path.to_path_buf(),
            format,
            text: text.to_string(),
            tree,
        })
    }

    /// The 1-based line where the key at `path` (any case; list indices as numbers) is
    /// written, found by scanning the text, since neither parser keeps positions in the tree.
    pub fn line_of(&self, path: &[String]) -> Option<usize> {
        match self.format {
            Format::Yaml => yaml_line_of(&self.text, path),
            Format::Toml => toml_line_of(&self.text, path),
        }
    }
}

fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(s)
}

fn keys_only(path: &[String]) -> Vec<&str> {
    path.iter()
        .filter(|s| s.parse::<usize>().is_err())
        .map(String::as_str)
        .collect()
}

fn yaml_line_of(text: &str, path: &[String]) -> Option<usize> {
    let want = keys_only(path);
    if want.is_empty() {
        return None;
    }
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let no_comment = raw.split(" #").next().unwrap_or(raw);
        if no_comment.trim().is_empty() || no_comment.trim_start().starts_with('#') {
            continue;
        }
        let mut indent = no_comment.len() - no_comment.trim_start().len();
        let mut rest = no_comment.trim_start();
        while let Some(r) = rest.strip_prefix("- ") {
            indent += 2 + (r.len() - r.trim_start().len());
            rest = r.trim_start();
        }
        let Some(colon) = find_yaml_colon(rest) else {
            continue;
        };
        let key = unquote(&rest[..colon]).to_string();
        while stack.last().is_some_and(|(n, _)| *n >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        if stack.len() == want.len()
            && stack
                .iter()
                .zip(&want)
                .all(|((_, k), w)| k.eq_ignore_ascii_case(w))
        {
            return Some(i + 1);
        }
    }
    None
}

/// Position of the `:` that ends a mapping key (outside quotes, followed by space or end).
fn find_yaml_colon(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if (b == b'"' || b == b'\'') && i == 0 => quote = Some(b),
            None if b == b':'
                && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t') =>
            {
                return Some(i)
            }
            None => {}
        }
    }
    None
}

fn toml_line_of(text: &str, path: &[String]) -> Option<usize> {
    let want = keys_only(path);
    if want.is_empty() {
        return None;
    }
    let split = |s: &str| -> Vec<String> { s.split('.').map(|p| unquote(p).to_string()).collect() };
    let mut table: Vec<String> = Vec::new();
    let mut prefix_hit: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let full: Vec<String> =
            if let Some(h) = line.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                table = split(h);
                table.clone()
            } else if let Some(h) = line.strip_prefix('[').and_then(|r| r.split(']').next()) {
                table = split(h);
                table.clone()
            } else if let Some(eq) = line.find('=') {
                let mut f = table.clone();
                f.extend(split(&line[..eq]));
                f
            } else {
                continue;
            };
        if full.len() == want.len()
            && full
                .iter()
                .zip(&want)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
        {
            return Some(i + 1);
        }
        if prefix_hit.is_none()
            && full.len() > want.len()
            && full
                .iter()
                .zip(&want)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
        {
            prefix_hit = Some(i + 1);
        }
    }
    prefix_hit
}

/// One command-line flag that set a configuration key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagItem {
    /// The flag as written (`--entrypoints.web.address=:80`, or `--api.insecure` for a bare one).
    pub text: String,
    /// Key path as written, split on `.` (and `[n]` into its own segment).
    pub path: Vec<String>,
    pub value: String,
}

/// Splits `entrypoints.websecure.http.tls.domains[0].main` into segments.
pub fn split_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            out.push(rest[..open].to_string());
            rest = &rest[open..];
            while let Some(r) = rest.strip_prefix('[') {
                let Some(close) = r.find(']') else {
                    out.push(r.to_string());
                    break;
                };
                out.push(r[..close].to_string());
                rest = &r[close + 1..];
            }
        } else {
            out.push(rest.to_string());
        }
    }
    out
}

/// Builds a raw tree from (path, value) pairs; a later pair wins over an earlier one.
pub fn tree_of<'a>(items: impl Iterator<Item = (&'a [String], Value)>) -> Value {
    let mut root = Value::Object(Map::new());
    for (path, value) in items {
        insert_path(&mut root, path, value);
    }
    root
}

/// Sets `value` at `path`, creating sections on the way (a scalar in the way is replaced, so
/// `--providers.docker --providers.docker.network=x` works).
pub fn insert_path(root: &mut Value, path: &[String], value: Value) {
    let mut node = root;
    for seg in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        node = map.entry(seg.clone()).or_insert(Value::Null);
    }
    match (node, value) {
        // `--providers.docker.network=x --providers.docker` keeps the section.
        (n @ Value::Object(_), Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            let _ = n;
        }
        (n, v) => *n = v,
    }
}

/// Environment variable prefixes, lowest precedence first (`WHARF_*` wins over `TRAEFIK_*`).
pub const ENV_PREFIXES: &[&str] = &["TRAEFIK_", "WHARF_"];

/// One environment variable that may set a configuration key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvItem {
    pub name: String,
    /// Lower-cased segments after the prefix, split on `_` (Traefik lower-cases env keys, so map
    /// keys such as entry-point names come out lower-case).
    pub path: Vec<String>,
    pub value: String,
}

/// Variables names that are not configuration keys: the config-file pointer.
pub fn is_config_file_var(name: &str) -> bool {
    ENV_PREFIXES.iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|r| r.eq_ignore_ascii_case("CONFIGFILE"))
    })
}

/// The `TRAEFIK_*` then `WHARF_*` variables, each group sorted by name (deterministic).
pub fn env_items(env: &[(String, String)]) -> Vec<EnvItem> {
    let mut out = Vec::new();
    for prefix in ENV_PREFIXES {
        let mut group: Vec<EnvItem> = env
            .iter()
            .filter(|(n, _)| {
                n.len() > prefix.len() && n[..prefix.len()].eq_ignore_ascii_case(prefix)
            })
            .filter(|(n, _)| !is_config_file_var(n))
            .map(|(n, v)| EnvItem {
                name: n.clone(),
                path: n[prefix.len()..]
                    .to_ascii_lowercase()
                    .split('_')
                    .map(str::to_string)
                    .collect(),
                value: v.clone(),
            })
            .collect();
        group.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(group);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        split_key(s)
    }

    #[test]
    fn split_key_indices() {
        assert_eq!(p("a.b[0].c"), vec!["a", "b", "0", "c"]);
        assert_eq!(
            p("entrypoints.web.address"),
            vec!["entrypoints", "web", "address"]
        );
    }

    #[test]
    fn yaml_lines() {
        let text = "# c\nentryPoints:\n  web:\n    address: \":80\"\n  websecure:\n    adress: :443\n    http:\n      tls:\n        domains:\n          - main: a\n            sans: [b]\n";
        let f = FileSource::parse(Path::new("t.yml"), text).unwrap();
        assert_eq!(f.line_of(&p("entryPoints.web.address")), Some(4));
        assert_eq!(f.line_of(&p("entryPoints.websecure.adress")), Some(6));
        assert_eq!(
            f.line_of(&p("entryPoints.websecure.http.tls.domains.0.sans")),
            Some(11)
        );
        assert_eq!(f.line_of(&p("nothing.here")), None);
    }

    #[test]
    fn toml_lines() {
        let text = "[entryPoints]\n  [entryPoints.web]\n    address = \":80\"\n[api]\ninsecure = true\n[providers.docker]\nnetwrk = \"x\"\n";
        let f = FileSource::parse(Path::new("t.toml"), text).unwrap();
        assert_eq!(f.line_of(&p("entryPoints.web.address")), Some(3));
        assert_eq!(f.line_of(&p("api.insecure")), Some(5));
        assert_eq!(f.line_of(&p("providers.docker.netwrk")), Some(7));
        assert_eq!(f.tree["entryPoints"]["web"]["address"], ":80");
    }

    #[test]
    fn syntax_errors_have_lines() {
        let e = FileSource::parse(Path::new("t.yml"), "a:\n  b: c\n d: [\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
        let e = FileSource::parse(Path::new("t.toml"), "a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn env_items_prefixes_and_case() {
        let env = vec![
            (
                "WHARF_ENTRYPOINTS_WEB_ADDRESS".to_string(),
                ":81".to_string(),
            ),
            (
                "TRAEFIK_ENTRYPOINTS_Web_ADDRESS".to_string(),
                ":80".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
            ("TRAEFIK_CONFIGFILE".to_string(), "x".to_string()),
        ];
        let items = env_items(&env);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].name, "TRAEFIK_ENTRYPOINTS_Web_ADDRESS");
        assert_eq!(items[0].path, vec!["entrypoints", "web", "address"]);
        assert_eq!(items[1].name, "WHARF_ENTRYPOINTS_WEB_ADDRESS");
    }

    #[test]
    fn search_dirs_follow_traefik() {
        let env = vec![
            ("HOME".to_string(), "/home/u".to_string()),
            ("XDG_CONFIG_HOME".to_string(), "/x".to_string()),
        ];
        let dirs = search_dirs(&env);
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/etc/traefik"),
                PathBuf::from("/x"),
                PathBuf::from("/home/u/.config"),
                PathBuf::from(".")
            ]
        );
    }
}
