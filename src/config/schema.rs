//! Schema-guided normalization of one source's raw tree (file, flags or environment), before the
//! sources are merged: keys are matched case-insensitively to their canonical spelling, unknown
//! keys are reported with the nearest valid key, and the shapes that flags and env can only
//! spell as strings are restored:
//! - `true`, `"true"` or an empty value (`ping:` in YAML) where a section is expected enables
//!   it with its defaults (`--providers.docker=true`, `--api`, `http.tls: true`); `false`
//!   disables it (kept as `null` so that it overrides a lower-precedence source, then dropped);
//! - `a,b,c` where a list is expected becomes a list (`--entrypoints.web.forwardedheaders.trustedips=a,b`);
//! - `{"0": .., "1": ..}` (from `domains[0].main` or `DOMAINS_0_MAIN`) becomes a list;
//! - `"true"`/`"42"` become booleans/numbers where the schema wants them.

use serde_json::{Map, Value};

/// A problem found while normalizing, at a raw (user-spelled) key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TreeProblem {
    /// Key path as the user spelled it (list indices as numbers).
    pub path: Vec<String>,
    pub message: String,
}

/// What the schema says a node is.
enum Shape<'a> {
    /// A struct: known properties, closed.
    Struct(&'a Map<String, Value>),
    /// A map with free keys (`entryPoints`, `certificatesResolvers`, `names`).
    Map(&'a Value),
    List(&'a Value),
    /// Scalar kinds accepted (`string`, `boolean`, `integer`, `number`).
    Scalar(Vec<&'a str>),
    /// Anything (`serde_json::Value` fields).
    Any,
}

/// A JSON schema (schemars output) with its `$defs`, walked alongside a value.
pub(crate) struct SchemaWalker {
    root: Value,
}

impl SchemaWalker {
    pub fn new(root: Value) -> Self {
        SchemaWalker { root }
    }

    /// The walker for the static configuration's schema.
    pub fn for_static() -> Self {
        let schema = schemars::schema_for!(crate::config::StaticConfig);
        SchemaWalker::new(schema.to_value())
    }

    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else { return node };
            let Some(name) = r.strip_prefix("#/$defs/") else { return node };
            match self.root.get("$defs").and_then(|d| d.get(name)) {
                Some(n) => node = n,
                None => return node,
            }
        }
        node
    }

    fn shape<'a>(&'a self, node: &'a Value) -> Shape<'a> {
        let node = self.resolve(node);
        let obj = match node {
            Value::Bool(_) => return Shape::Any,
            Value::Object(o) => o,
            _ => return Shape::Any,
        };
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(variants)) = obj.get(key) {
                let non_null: Vec<&Value> = variants
                    .iter()
                    .filter(|v| self.resolve(v).get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                if non_null.len() == 1 {
                    return self.shape(non_null[0]);
                }
                let mut kinds = Vec::new();
                for v in non_null {
                    match self.shape(v) {
                        Shape::Scalar(k) => kinds.extend(k),
                        _ => return Shape::Any,
                    }
                }
                return Shape::Scalar(kinds);
            }
        }
        if let Some(Value::Object(props)) = obj.get("properties") {
            return Shape::Struct(props);
        }
        let types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
            _ => return Shape::Any,
        };
        if types.contains(&"object") {
            return match obj.get("additionalProperties") {
                Some(Value::Bool(false)) => Shape::Struct(EMPTY.get_or_init(Map::new)),
                Some(ap) => Shape::Map(ap),
                None => Shape::Map(&Value::Bool(true)),
            };
        }
        if types.contains(&"array") {
            return Shape::List(obj.get("items").unwrap_or(&Value::Bool(true)));
        }
        Shape::Scalar(types)
    }

    /// Whether the node at `path` (canonical or any-case keys) is a boolean leaf; used by the
    /// flag parser to decide whether `--key value` consumes the next argument.
    pub fn is_bool_or_section(&self, path: &[String]) -> bool {
        let mut node = &self.root;
        for seg in path {
            node = match self.shape(node) {
                Shape::Struct(props) => match find_key(props, seg) {
                    Some(k) => &props[k.as_str()],
                    None => return false,
                },
                Shape::Map(inner) => inner,
                Shape::List(items) => items,
                _ => return false,
            };
        }
        match self.shape(node) {
            Shape::Scalar(kinds) => kinds == ["boolean"],
            Shape::Struct(_) => true,
            _ => false,
        }
    }

    /// Normalizes `value` against the schema (see the module doc). Problems are pushed with the
    /// raw key path; the offending keys are dropped from the result.
    pub fn normalize(&self, value: Value, problems: &mut Vec<TreeProblem>) -> Value {
        let mut path = Vec::new();
        self.walk(value, &self.root, &mut path, problems).unwrap_or(Value::Null)
    }

    fn walk(&self, value: Value, schema: &Value, path: &mut Vec<String>, problems: &mut Vec<TreeProblem>) -> Option<Value> {
        let problem = |path: &Vec<String>, problems: &mut Vec<TreeProblem>, message: String| {
            problems.push(TreeProblem { path: path.clone(), message });
        };
        match self.shape(schema) {
            Shape::Any => Some(value),
            Shape::Struct(props) => {
                let obj = match value {
                    Value::Object(o) => o,
                    Value::Null => Map::new(),
                    Value::Bool(true) => Map::new(),
                    Value::Bool(false) => return Some(Value::Null),
                    Value::String(s) if s.trim().eq_ignore_ascii_case("true") || s.trim().is_empty() => Map::new(),
                    Value::String(s) if s.trim().eq_ignore_ascii_case("false") => return Some(Value::Null),
                    other => {
                        problem(path, problems, format!("expected a section (keys and values), found {}", describe(&other)));
                        return None;
                    }
                };
                let mut out = Map::new();
                for (k, v) in obj {
                    let Some(canon) = find_key(props, &k) else {
                        path.push(k.clone());
                        problem(path, problems, unknown_key_message(&k, props.keys()));
                        path.pop();
                        continue;
                    };
                    path.push(k);
                    if let Some(nv) = self.walk(v, &props[canon.as_str()], path, problems) {
                        merge_into(&mut out, canon, nv);
                    }
                    path.pop();
                }
                Some(Value::Object(out))
            }
            Shape::Map(inner) => {
                let obj = match value {
                    Value::Object(o) => o,
                    Value::Null | Value::Bool(true) => Map::new(),
                    Value::String(s) if s.trim().eq_ignore_ascii_case("true") || s.trim().is_empty() => Map::new(),
                    Value::Bool(false) => return Some(Value::Null),
                    Value::String(s) if s.trim().eq_ignore_ascii_case("false") => return Some(Value::Null),
                    other => {
                        problem(path, problems, format!("expected a map of names, found {}", describe(&other)));
                        return None;
                    }
                };
                let mut out = Map::new();
                for (k, v) in obj {
                    path.push(k.clone());
                    if let Some(nv) = self.walk(v, inner, path, problems) {
                        out.insert(k, nv);
                    }
                    path.pop();
                }
                Some(Value::Object(out))
            }
            Shape::List(items) => {
                let elems: Vec<(String, Value)> = match value {
                    Value::Array(a) => a.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
                    Value::Object(o) if o.keys().all(|k| k.parse::<usize>().is_ok()) => {
                        let mut v: Vec<(usize, String, Value)> =
                            o.into_iter().filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, k, v))).collect();
                        v.sort_by_key(|(i, _, _)| *i);
                        v.into_iter().map(|(_, k, v)| (k, v)).collect()
                    }
                    Value::String(s) => {
                        if s.trim().is_empty() {
                            Vec::new()
                        } else {
                            s.split(',').enumerate().map(|(i, p)| (i.to_string(), Value::String(p.trim().to_string()))).collect()
                        }
                    }
                    Value::Null => Vec::new(),
                    other @ (Value::Number(_) | Value::Bool(_)) => vec![("0".to_string(), other)],
                    other => {
                        problem(path, problems, format!("expected a list, found {}", describe(&other)));
                        return None;
                    }
                };
                let mut out = Vec::with_capacity(elems.len());
                for (k, v) in elems {
                    path.push(k);
                    if let Some(nv) = self.walk(v, items, path, problems) {
                        out.push(nv);
                    }
                    path.pop();
                }
                Some(Value::Array(out))
            }
            Shape::Scalar(kinds) => match coerce_scalar(value, &kinds) {
                Ok(v) => Some(v),
                Err(msg) => {
                    problem(path, problems, msg);
                    None
                }
            },
        }
    }
}

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

/// Inserts, deep-merging when two spellings of one key (`entryPoints` and `entrypoints` in one
/// file) both appear.
fn merge_into(out: &mut Map<String, Value>, key: String, value: Value) {
    match out.get_mut(&key) {
        Some(existing) => deep_merge(existing, value),
        None => {
            out.insert(key, value);
        }
    }
}

/// Deep-merges `over` into `base`: objects merge key by key, anything else replaces.
pub(crate) fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Removes `null`s (disabled sections, empty values) so that serde sees absent keys.
pub(crate) fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(o) => {
            o.retain(|_, v| !v.is_null());
            for v in o.values_mut() {
                strip_nulls(v);
            }
        }
        Value::Array(a) => {
            for v in a.iter_mut() {
                strip_nulls(v);
            }
        }
        _ => {}
    }
}

fn find_key(props: &Map<String, Value>, key: &str) -> Option<String> {
    if props.contains_key(key) {
        return Some(key.to_string());
    }
    props.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// "unknown key `adress` (did you mean `address`?)", or the valid keys when none is close.
pub(crate) fn unknown_key_message<'a>(key: &str, valid: impl Iterator<Item = &'a String>) -> String {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(f64, &String)> = None;
    let mut all: Vec<&String> = Vec::new();
    for v in valid {
        all.push(v);
        let score = strsim::jaro_winkler(&lower, &v.to_ascii_lowercase());
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, v));
        }
    }
    match best {
        Some((score, v)) if score >= 0.7 => format!("unknown key `{key}` (did you mean `{v}`?)"),
        _ if all.is_empty() => format!("unknown key `{key}` (this section takes no keys)"),
        _ => {
            let list: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
            format!("unknown key `{key}` (valid keys: {})", list.join(", "))
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a section".into(),
    }
}

fn coerce_scalar(value: Value, kinds: &[&str]) -> Result<Value, String> {
    let wants = |k: &str| kinds.contains(&k);
    match value {
        Value::Bool(_) if wants("boolean") => Ok(value),
        Value::Number(ref n) if wants("number") || (wants("integer") && (n.is_i64() || n.is_u64())) => Ok(value),
        Value::String(_) if wants("string") => Ok(value),
        Value::String(s) => {
            let t = s.trim();
            if wants("boolean") {
                if t.eq_ignore_ascii_case("true") || t.is_empty() {
                    return Ok(Value::Bool(true));
                }
                if t.eq_ignore_ascii_case("false") {
                    return Ok(Value::Bool(false));
                }
            }
            if wants("integer") {
                if let Ok(i) = t.parse::<i64>() {
                    return Ok(Value::from(i));
                }
                if let Ok(u) = t.parse::<u64>() {
                    return Ok(Value::from(u));
                }
            }
            if wants("number") {
                if let Some(n) = t.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    return Ok(Value::Number(n));
                }
            }
            Err(format!("expected {}, found {s:?}", kinds_text(kinds)))
        }
        // YAML `address: 80` or `version: 1.0` where a string is wanted: take the text.
        Value::Number(n) if wants("string") => Ok(Value::String(n.to_string())),
        Value::Bool(b) if wants("string") => Ok(Value::String(b.to_string())),
        Value::Null => Ok(Value::Null),
        other => Err(format!("expected {}, found {}", kinds_text(kinds), describe(&other))),
    }
}

fn kinds_text(kinds: &[&str]) -> String {
    let words: Vec<&str> = kinds
        .iter()
        .map(|k| match *k {
            "boolean" => "true or false",
            "integer" => "a whole number",
            "number" => "a number",
            "string" => "text",
            other => other,
        })
        .collect();
    words.join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(v: Value) -> (Value, Vec<TreeProblem>) {
        let w = SchemaWalker::for_static();
        let mut p = Vec::new();
        let out = w.normalize(v, &mut p);
        (out, p)
    }

    #[test]
    fn keys_are_case_insensitive_and_canonicalized() {
        let (out, p) = norm(json!({"ENTRYPOINTS": {"Web": {"ADDRESS": ":80", "asdefault": "true"}}}));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(out, json!({"entryPoints": {"Web": {"address": ":80", "asDefault": true}}}));
    }

    #[test]
    fn enable_flags_become_sections() {
        let (out, p) = norm(json!({"providers": {"docker": "true"}, "api": true, "ping": null}));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(out, json!({"providers": {"docker": {}}, "api": {}, "ping": {}}));
        let (out, _) = norm(json!({"providers": {"docker": "false"}}));
        assert_eq!(out, json!({"providers": {"docker": null}}));
    }

    #[test]
    fn lists_from_commas_and_indices() {
        let (out, p) = norm(json!({"entrypoints": {"web": {
            "forwardedheaders": {"trustedips": "10.0.0.0/8, 127.0.0.1"},
            "http": {"tls": {"domains": {"1": {"main": "b"}, "0": {"main": "a", "sans": "x,y"}}}}
        }}}));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(out["entryPoints"]["web"]["forwardedHeaders"]["trustedIPs"], json!(["10.0.0.0/8", "127.0.0.1"]));
        assert_eq!(
            out["entryPoints"]["web"]["http"]["tls"]["domains"],
            json!([{"main": "a", "sans": ["x", "y"]}, {"main": "b"}])
        );
    }

    #[test]
    fn unknown_key_names_nearest() {
        let (_, p) = norm(json!({"entryPoints": {"web": {"adress": ":80"}}}));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, vec!["entryPoints", "web", "adress"]);
        assert!(p[0].message.contains("did you mean `address`"), "{}", p[0].message);
    }

    #[test]
    fn scalar_coercion_errors() {
        let (_, p) = norm(json!({"api": {"insecure": "yes please"}}));
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("true or false"), "{}", p[0].message);
        let (out, p) = norm(json!({"ping": {"terminatingStatusCode": "500"}, "providers": {"providersThrottleDuration": "2s"}}));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(out["ping"]["terminatingStatusCode"], json!(500));
        assert_eq!(out["providers"]["providersThrottleDuration"], json!("2s"));
    }

    #[test]
    fn free_sections_accept_anything() {
        let (out, p) = norm(json!({"experimental": {"plugins": {"x": {"moduleName": "m", "version": "v1"}}}}));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(out["experimental"]["plugins"]["x"]["version"], json!("v1"));
    }
}
