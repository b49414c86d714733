//! Label decoding for one item (a router, a service, a middleware): flat label keys below the
//! item (`rule`, `tls.domains[0].main`, `stripprefix.prefixes`) → a JSON tree guided by the
//! item type's JSON schema → the typed model. Sits between the container's labels and `build()`.
//!
//! Keys match the schema case-insensitively (Traefik's label keys are lower-case spellings of
//! camelCase fields); an unknown key fails with the nearest valid key named; string values are
//! coerced to what the schema wants (bool, integer, comma-separated list); an object-valued key
//! given `true` becomes an empty object (`tls=true`), as Traefik reads it.
//!
//! This is the Docker provider's own decoder until the shared `crate::labels` decoder lands.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// One decoding failure, naming the label at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    /// The full label key (`traefik.http.routers.a.rulee`).
    pub label: String,
    pub message: String,
}

/// The schema of `T`, kept with its `$defs` so references resolve.
pub struct ItemSchema {
    root: Value,
}

impl ItemSchema {
    pub fn of<T: JsonSchema>() -> ItemSchema {
        ItemSchema { root: schemars::schema_for!(T).to_value() }
    }

    /// Decodes `(subkey, value, full label)` triples into `T`. Every bad label is reported;
    /// the item decodes from the good ones (the caller disables it when there are errors).
    pub fn decode<T: DeserializeOwned + Default>(&self, entries: &[(String, String, String)]) -> (T, Vec<LabelError>) {
        let mut tree = Value::Object(Map::new());
        let mut errors = Vec::new();
        for (sub, value, label) in entries {
            let segs: Vec<&str> = sub.split('.').collect();
            if let Err(message) = self.insert(&mut tree, &self.root, &segs, value, label) {
                errors.push(LabelError { label: label.clone(), message });
            }
        }
        match serde_path_to_error::deserialize::<_, T>(tree.clone()) {
            Ok(v) => (v, errors),
            Err(e) => {
                let path = e.path().to_string();
                let label = entries
                    .iter()
                    .find(|(sub, _, _)| path_matches(sub, &path))
                    .map(|(_, _, l)| l.clone())
                    .unwrap_or_else(|| entries.first().map(|(_, _, l)| l.clone()).unwrap_or_default());
                errors.push(LabelError { label, message: format!("{}: {}", path, e.inner()) });
                (T::default(), errors)
            }
        }
    }

    fn resolve<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        for _ in 0..16 {
            if let Some(r) = s.get("$ref").and_then(Value::as_str) {
                let name = r.rsplit('/').next().unwrap_or_default();
                match self.root.get("$defs").and_then(|d| d.get(name)) {
                    Some(d) => {
                        s = d;
                        continue;
                    }
                    None => return s,
                }
            }
            // Option<T>: anyOf/oneOf [T, null] → T.
            if let Some(alts) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
                let non_null: Vec<&Value> =
                    alts.iter().filter(|a| a.get("type").and_then(Value::as_str) != Some("null")).collect();
                if non_null.len() == 1 {
                    s = non_null[0];
                    continue;
                }
            }
            return s;
        }
        s
    }

    fn insert(&self, slot: &mut Value, schema: &Value, segs: &[&str], value: &str, label: &str) -> Result<(), String> {
        let s = self.resolve(schema);
        let Some((first, rest)) = segs.split_first() else {
            let v = self.coerce(s, value)?;
            // `tls=true` next to `tls.certresolver=...`: keep the options already set.
            let keep = slot.is_object() && v.as_object().is_some_and(Map::is_empty);
            if !keep {
                *slot = v;
            }
            return Ok(());
        };
        let (name, index) = split_index(first)?;
        let (key, child_schema) = self.child(s, name, label)?;
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        let Some(obj) = slot.as_object_mut() else {
            return Err(format!("`{name}` is given both as a value and as a section"));
        };
        let entry = obj.entry(key).or_insert(Value::Null);
        match index {
            None => self.insert(entry, &child_schema, rest, value, label),
            Some(i) => {
                let arr_schema = self.resolve(&child_schema);
                let items = arr_schema.get("items").cloned().unwrap_or(Value::Bool(true));
                if entry.is_null() {
                    *entry = Value::Array(Vec::new());
                }
                let Some(arr) = entry.as_array_mut() else {
                    return Err(format!("`{name}` is given both as a list value and with [{i}]"));
                };
                if i > 1000 {
                    return Err(format!("index [{i}] is too large"));
                }
                while arr.len() <= i {
                    arr.push(Value::Null);
                }
                self.insert(&mut arr[i], &items, rest, value, label)
            }
        }
    }

    /// The child schema for `name` under object schema `s`, matched case-insensitively.
    fn child(&self, s: &Value, name: &str, label: &str) -> Result<(String, Value), String> {
        if is_any(s) {
            return Ok((name.to_string(), Value::Bool(true)));
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            if let Some((k, v)) = props.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                return Ok((k.clone(), v.clone()));
            }
            if let Some(extra) = s.get("additionalProperties").filter(|a| !matches!(a, Value::Bool(false))) {
                return Ok((name.to_string(), extra.clone()));
            }
            let known: Vec<&str> = props.keys().map(String::as_str).collect();
            return Err(unknown_key(name, &known, label));
        }
        if let Some(extra) = s.get("additionalProperties").filter(|a| !matches!(a, Value::Bool(false))) {
            return Ok((name.to_string(), extra.clone()));
        }
        Err(format!("`{name}` goes below a value that takes no options"))
    }

    fn coerce(&self, s: &Value, value: &str) -> Result<Value, String> {
        let s = self.resolve(s);
        let types = schema_types(s);
        if types.is_empty() {
            // Several alternatives (e.g. a duration: string or integer) or any value.
            if let Some(alts) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
                let alt_types: Vec<String> = alts.iter().flat_map(|a| schema_types(self.resolve(a))).collect();
                if alt_types.iter().any(|t| t == "string") {
                    return Ok(Value::String(value.to_string()));
                }
            }
            return Ok(guess(value));
        }
        let has = |t: &str| types.iter().any(|x| x == t);
        if has("string") {
            return Ok(Value::String(value.to_string()));
        }
        if has("boolean") {
            return match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("expected true or false, got {value:?}")),
            };
        }
        if has("integer") {
            return value
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("expected an integer, got {value:?}"));
        }
        if has("number") {
            return value
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("expected a number, got {value:?}"));
        }
        if has("array") {
            let items = s.get("items").cloned().unwrap_or(Value::Bool(true));
            return value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| self.coerce(&items, v))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        if has("object") {
            // `tls=true`, `sticky.cookie=true`: turn the section on with its defaults.
            return match value.trim().to_ascii_lowercase().as_str() {
                "true" | "" => Ok(Value::Object(Map::new())),
                "false" => Ok(Value::Null),
                _ => Err(format!("expected options below this key (or true), got {value:?}")),
            };
        }
        Ok(guess(value))
    }
}

fn schema_types(s: &Value) -> Vec<String> {
    match s.get("type") {
        Some(Value::String(t)) if t != "null" => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").map(String::from).collect(),
        _ => Vec::new(),
    }
}

fn is_any(s: &Value) -> bool {
    matches!(s, Value::Bool(true))
        || s.as_object().is_some_and(|o| o.keys().all(|k| k == "description" || k == "title" || k == "default"))
}

/// A value without a schema (a middleware type not yet typed): number, bool or string.
fn guess(value: &str) -> Value {
    if let Ok(i) = value.parse::<i64>() {
        return Value::from(i);
    }
    if let Some(n) = value.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        return Value::Number(n);
    }
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(value.to_string()),
    }
}

fn split_index(seg: &str) -> Result<(&str, Option<usize>), String> {
    match seg.find('[') {
        None => Ok((seg, None)),
        Some(open) => {
            let inner = seg[open + 1..].strip_suffix(']').ok_or_else(|| format!("bad index in `{seg}`"))?;
            let i = inner.parse::<usize>().map_err(|_| format!("bad index in `{seg}`"))?;
            Ok((&seg[..open], Some(i)))
        }
    }
}

/// Whether a serde path (`tls.domains[0].main`) came from label subkey `sub` (case-insensitive).
fn path_matches(sub: &str, path: &str) -> bool {
    path.eq_ignore_ascii_case(sub) || sub.to_ascii_lowercase().starts_with(&path.to_ascii_lowercase())
}

/// "unknown key" with the nearest valid key suggested (the label with the key replaced).
pub fn unknown_key(name: &str, known: &[&str], label: &str) -> String {
    let lname = name.to_ascii_lowercase();
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lname, &k.to_ascii_lowercase()), *k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => {
            let suggestion = replace_last_segment(label, name, &k.to_ascii_lowercase());
            format!("unknown key `{name}`; did you mean `{}`? (label {label})", suggestion)
        }
        None => format!("unknown key `{name}` (valid here: {}) (label {label})", known.join(", ")),
    }
}

fn replace_last_segment(label: &str, seg: &str, with: &str) -> String {
    let lower = label.to_ascii_lowercase();
    match lower.rfind(&seg.to_ascii_lowercase()) {
        Some(pos) => format!("{}{}{}", &label[..pos], with, &label[pos + seg.len()..]),
        None => with.to_string(),
    }
}

/// Groups labels under `prefix` by their first segment (case-insensitive item name kept as
/// written): `rule` etc. for one item, as `(subkey, value, full label)` triples.
pub type Entries = Vec<(String, String, String)>;

pub fn group(entries: impl Iterator<Item = (String, String, String)>) -> BTreeMap<String, Entries> {
    let mut out: BTreeMap<String, Entries> = BTreeMap::new();
    for (rest, value, label) in entries {
        let (name, sub) = rest.split_once('.').unwrap_or((rest.as_str(), ""));
        out.entry(name.to_string()).or_default().push((sub.to_string(), value, label));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Router, Service};

    fn e(items: &[(&str, &str)]) -> Entries {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string(), format!("traefik.http.routers.a.{k}"))).collect()
    }

    #[test]
    fn router_keys_case_insensitive_and_lists() {
        let (r, errs): (Router, _) = ItemSchema::of::<Router>().decode(&e(&[
            ("rule", "Host(`a`)"),
            ("entrypoints", "web, websecure"),
            ("middlewares", "a@docker,b"),
            ("priority", "42"),
            ("tls", "true"),
            ("tls.certresolver", "le"),
            ("tls.domains[0].main", "example.com"),
            ("tls.domains[0].sans", "a.example.com,b.example.com"),
        ]));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(r.rule, "Host(`a`)");
        assert_eq!(r.entry_points, vec!["web", "websecure"]);
        assert_eq!(r.middlewares, vec!["a@docker", "b"]);
        assert_eq!(r.priority, Some(42));
        let tls = r.tls.unwrap();
        assert_eq!(tls.cert_resolver, "le");
        assert_eq!(tls.domains[0].main, "example.com");
        assert_eq!(tls.domains[0].sans, vec!["a.example.com", "b.example.com"]);
    }

    #[test]
    fn typo_suggests_nearest_key() {
        let (_r, errs): (Router, _) = ItemSchema::of::<Router>().decode(&e(&[("rulee", "Host(`a`)")]));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("did you mean `traefik.http.routers.a.rule`"), "{}", errs[0].message);
        assert_eq!(errs[0].label, "traefik.http.routers.a.rulee");
    }

    #[test]
    fn bad_values_name_the_label() {
        let (_r, errs): (Router, _) = ItemSchema::of::<Router>().decode(&e(&[("priority", "high")]));
        assert!(errs[0].message.contains("integer"), "{errs:?}");
        let (_s, errs): (Service, _) = ItemSchema::of::<Service>().decode(&[(
            "loadbalancer.healthcheck.interval".into(),
            "10x".into(),
            "traefik.http.services.s.loadbalancer.healthcheck.interval".into(),
        )]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].label, "traefik.http.services.s.loadbalancer.healthcheck.interval");
    }

    #[test]
    fn service_options() {
        let ent: Entries = [
            ("loadbalancer.passhostheader", "false"),
            ("loadbalancer.sticky.cookie.name", "sid"),
            ("loadbalancer.sticky.cookie.secure", "true"),
            ("loadbalancer.healthcheck.path", "/health"),
            ("loadbalancer.healthcheck.interval", "5s"),
            ("loadbalancer.healthcheck.headers.X-Foo", "bar"),
            ("loadbalancer.serverstransport", "t@file"),
            ("loadbalancer.responseforwarding.flushinterval", "1s"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string(), format!("traefik.http.services.s.{k}")))
        .collect();
        let (s, errs): (Service, _) = ItemSchema::of::<Service>().decode(&ent);
        assert!(errs.is_empty(), "{errs:?}");
        let lb = s.load_balancer.unwrap();
        assert!(!lb.pass_host_header);
        assert_eq!(lb.sticky.unwrap().cookie.unwrap().name, "sid");
        let hc = lb.health_check.unwrap();
        assert_eq!(hc.path, "/health");
        assert_eq!(hc.interval, Some(crate::Duration::from_secs(5)));
        assert_eq!(hc.headers.get("X-Foo").map(String::as_str), Some("bar"));
        assert_eq!(lb.servers_transport, "t@file");
    }
}
