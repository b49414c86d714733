//! Schema-guided key canonicalization shared by every configuration source (static file, CLI
//! flags, environment, dynamic files, Docker labels): matches keys case-insensitively against the
//! target type's JSON schema, names unknown keys with the nearest valid one, and coerces strings
//! (from flags, env and labels) to the shapes the schema wants. Sits between "raw tree"
//! (`serde_json::Value` built by each source) and serde deserialization into the typed config.
//!
//! Rules (Traefik's keys are case-insensitive and its flat sources write everything as strings):
//! - object keys match schema property names ignoring ASCII case and are rewritten to the
//!   canonical spelling; unknown keys are removed and reported with a "did you mean" when close;
//! - map keys (`additionalProperties`) are kept as written; the values are walked with the value
//!   schema;
//! - strings become booleans/integers/numbers where the schema wants them (`"true"`, `"42"`);
//! - a string becomes an array by comma-splitting where the schema wants an array of scalars;
//! - an object with keys `"0"`, `"1"`, ... becomes an array where the schema wants an array;
//! - `true`, `""` or `null` where the schema wants an object becomes `{}` (`--providers.docker=true`
//!   enables the section with defaults); `false` becomes `null` where null is allowed.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// One problem with a key or value, by canonical dotted path (`http.routers.api.rule`, array
/// elements as `tls.domains[0].main`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyProblem {
    pub path: String,
    pub message: String,
    /// 1-based line in the source text, when the source has lines and it could be found.
    pub line: Option<usize>,
}

impl KeyProblem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        KeyProblem {
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The JSON schema of `T`, generated once per type and kept for the life of the process
/// (a handful of config types, so the leak is bounded).
pub fn schema_for<T: JsonSchema>() -> &'static Schema {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Schema>>> = OnceLock::new();
    let id = T::schema_id().into_owned();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another thread panicked while inserting; the map is still valid.
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = map.get(&id) {
        return s;
    }
    let schema: &'static Schema = Box::leak(Box::new(schemars::schema_for!(T)));
    map.insert(id, schema);
    schema
}

/// Canonicalizes `value` in place against `schema` (a root schema holding its `$defs`).
/// Returns the problems found; unknown keys are removed so the rest can still deserialize.
pub fn canonicalize(value: &mut Value, schema: &Schema) -> Vec<KeyProblem> {
    canonicalize_at(value, schema, "")
}

/// As [`canonicalize`], with every problem path prefixed by `base` (e.g. `http.routers.api`), for
/// sources that decode one item at a time.
pub fn canonicalize_at(value: &mut Value, schema: &Schema, base: &str) -> Vec<KeyProblem> {
    let mut walker = Walker {
        root: schema.as_value(),
        problems: Vec::new(),
    };
    let mut path = base.to_string();
    walker.walk(value, schema.as_value(), &mut path);
    walker.problems
}

/// Canonicalizes, then deserializes `T` with the path of any type error.
pub fn decode<T: DeserializeOwned + JsonSchema>(value: Value) -> Result<T, Vec<KeyProblem>> {
    decode_at(value, "")
}

/// As [`decode`], with problem paths prefixed by `base`.
pub fn decode_at<T: DeserializeOwned + JsonSchema>(
    mut value: Value,
    base: &str,
) -> Result<T, Vec<KeyProblem>> {
    let mut problems = canonicalize_at(&mut value, schema_for::<T>(), base);
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) if problems.is_empty() => Ok(v),
        Ok(_) => Err(problems),
        Err(e) => {
            let inner = e.path().to_string();
            let path = join_path(base, if inner == "." { "" } else { &inner });
            problems.push(KeyProblem::new(
                path.clone(),
                type_message(&path, e.inner()),
            ));
            Err(problems)
        }
    }
}

/// Deserializes an already canonicalized `value` as `T`; a type error carries its path (prefixed
/// by `base`). For sources that canonicalize a whole document once and then decode item by item.
pub fn deserialize_at<T: DeserializeOwned>(value: Value, base: &str) -> Result<T, KeyProblem> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = join_path(base, if inner == "." { "" } else { &inner });
        KeyProblem::new(path.clone(), type_message(&path, e.inner()))
    })
}

fn type_message(path: &str, err: &serde_json::Error) -> String {
    if path.is_empty() {
        err.to_string()
    } else {
        format!("`{path}`: {err}")
    }
}

fn join_path(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => base.to_string(),
        (false, false) if rest.starts_with('[') => format!("{base}{rest}"),
        (false, false) => format!("{base}.{rest}"),
    }
}

/// The nearest of `candidates` to `key` (ignoring case), only when it is close enough to be a
/// plausible typo.
pub fn suggest<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let k = key.to_ascii_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let cl = c.to_ascii_lowercase();
        let dist = strsim::damerau_levenshtein(&k, &cl);
        let jw = strsim::jaro_winkler(&k, &cl);
        let close = (dist <= 2 && k.len() >= 3) || (dist <= k.len() / 3) || jw >= 0.9;
        if !close {
            continue;
        }
        let score = jw - dist as f64 * 0.05;
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

// ---------------------------------------------------------------------------------------------
// Schema views: a flattened reading of one schema node ($ref, allOf, anyOf, oneOf merged).

const T_NULL: u8 = 1;
const T_BOOL: u8 = 2;
const T_INT: u8 = 4;
const T_NUM: u8 = 8;
const T_STR: u8 = 16;
const T_ARR: u8 = 32;
const T_OBJ: u8 = 64;
const T_ALL: u8 = 127;

#[derive(Default)]
struct View<'s> {
    /// Allowed JSON types (bit set). `T_ALL` when unconstrained.
    types: u8,
    /// True when some branch accepts anything (`true`, `{}`, a schema without `type`).
    any: bool,
    /// Known properties in declaration order (first one wins on duplicates).
    properties: Vec<(&'s str, &'s Value)>,
    /// Schema of map values (`additionalProperties: {..}`).
    additional: Option<&'s Value>,
    /// Keys beyond `properties` are allowed without a schema (`additionalProperties: true`, or an
    /// object schema without properties).
    free_keys: bool,
    /// Schema of array elements.
    items: Option<&'s Value>,
    /// String enumeration values (for case-insensitive value matching).
    enum_strings: Vec<&'s str>,
}

impl<'s> View<'s> {
    fn of(root: &'s Value, node: &'s Value) -> View<'s> {
        let mut v = View::default();
        v.add(root, node, 0);
        if v.types == 0 && !v.any {
            // Nothing says what it is: accept anything.
            v.any = true;
        }
        if v.any {
            v.types = T_ALL;
        }
        v
    }

    fn add(&mut self, root: &'s Value, node: &'s Value, depth: usize) {
        if depth > 32 {
            self.any = true;
            return;
        }
        let obj = match node {
            Value::Bool(true) => {
                self.any = true;
                return;
            }
            Value::Object(o) => o,
            // `false` accepts nothing.
            _ => return,
        };
        let mut constrained = false;
        if let Some(Value::String(r)) = obj.get("$ref") {
            constrained = true;
            match resolve_ref(root, r) {
                Some(target) => self.add(root, target, depth + 1),
                None => self.any = true,
            }
        }
        for kw in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = obj.get(kw) {
                constrained = true;
                for b in branches {
                    self.add(root, b, depth + 1);
                }
            }
        }
        match obj.get("type") {
            Some(Value::String(t)) => {
                constrained = true;
                self.types |= type_bit(t);
            }
            Some(Value::Array(ts)) => {
                constrained = true;
                for t in ts.iter().filter_map(Value::as_str) {
                    self.types |= type_bit(t);
                }
            }
            _ => {}
        }
        if let Some(Value::Object(props)) = obj.get("properties") {
            constrained = true;
            self.types |= T_OBJ;
            for (k, s) in props {
                if !self.properties.iter().any(|(p, _)| *p == k.as_str()) {
                    self.properties.push((k.as_str(), s));
                }
            }
        }
        let declares_object = obj.get("type").is_some_and(|t| {
            t.as_str() == Some("object")
                || t.as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("object")))
        });
        match obj.get("additionalProperties") {
            Some(Value::Bool(true)) => self.free_keys = true,
            Some(Value::Bool(false)) => {}
            Some(s @ Value::Object(_)) => {
                if self.additional.is_none() {
                    self.additional = Some(s);
                }
            }
            _ => {
                if declares_object && !obj.contains_key("properties") {
                    self.free_keys = true;
                }
            }
        }
        if let Some(items) = obj.get("items") {
            constrained = true;
            self.types |= T_ARR;
            if self.items.is_none() {
                self.items = Some(match items {
                    Value::Array(a) => a.first().unwrap_or(&Value::Bool(true)),
                    other => other,
                });
            }
        }
        if let Some(Value::Array(vals)) = obj.get("enum") {
            constrained = true;
            for v in vals {
                match v {
                    Value::String(s) => {
                        self.types |= T_STR;
                        self.enum_strings.push(s);
                    }
                    other => self.types |= json_type(other),
                }
            }
        }
        if let Some(c) = obj.get("const") {
            constrained = true;
            match c {
                Value::String(s) => {
                    self.types |= T_STR;
                    self.enum_strings.push(s);
                }
                other => self.types |= json_type(other),
            }
        }
        if !constrained && !obj.contains_key("not") {
            // `{}` or only annotations: anything goes.
            self.any = true;
        }
    }

    fn allows(&self, bit: u8) -> bool {
        self.types & bit != 0
    }

    fn property(&self, key: &str) -> Option<(&'s str, &'s Value)> {
        self.properties
            .iter()
            .find(|(p, _)| *p == key)
            .or_else(|| {
                self.properties
                    .iter()
                    .find(|(p, _)| p.eq_ignore_ascii_case(key))
            })
            .copied()
    }

    /// Whether the items are scalars (so a comma-separated string can be split into them).
    fn items_are_scalar(&self, root: &'s Value) -> bool {
        match self.items {
            None => true,
            Some(items) => {
                let iv = View::of(root, items);
                iv.any || iv.types & (T_ARR | T_OBJ) == 0
            }
        }
    }
}

fn resolve_ref<'s>(root: &'s Value, r: &str) -> Option<&'s Value> {
    if r == "#" {
        return Some(root);
    }
    let ptr = r.strip_prefix('#')?;
    root.pointer(ptr)
}

fn type_bit(t: &str) -> u8 {
    match t {
        "null" => T_NULL,
        "boolean" => T_BOOL,
        // A JSON integer is also a number.
        "integer" => T_INT,
        "number" => T_NUM | T_INT,
        "string" => T_STR,
        "array" => T_ARR,
        "object" => T_OBJ,
        _ => 0,
    }
}

fn json_type(v: &Value) -> u8 {
    match v {
        Value::Null => T_NULL,
        Value::Bool(_) => T_BOOL,
        Value::Number(n) if n.is_i64() || n.is_u64() => T_INT,
        Value::Number(_) => T_NUM,
        Value::String(_) => T_STR,
        Value::Array(_) => T_ARR,
        Value::Object(_) => T_OBJ,
    }
}

/// Go's `strconv.ParseBool` set, which Traefik uses for flags and labels.
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------

struct Walker<'s> {
    root: &'s Value,
    problems: Vec<KeyProblem>,
}

impl<'s> Walker<'s> {
    fn walk(&mut self, value: &mut Value, node: &'s Value, path: &mut String) {
        let view = View::of(self.root, node);
        if view.any
            && view.properties.is_empty()
            && view.additional.is_none()
            && view.items.is_none()
        {
            return;
        }
        self.coerce(value, &view, path);
        match value {
            Value::Object(map) if view.allows(T_OBJ) => self.walk_object(map, &view, path),
            Value::Array(items) => {
                if let Some(item_schema) = view.items {
                    for (i, item) in items.iter_mut().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        self.walk(item, item_schema, path);
                        path.truncate(len);
                    }
                }
            }
            Value::String(s)
                if !view.enum_strings.is_empty() && !view.enum_strings.contains(&s.as_str()) =>
            {
                if let Some(c) = view.enum_strings.iter().find(|e| e.eq_ignore_ascii_case(s)) {
                    *s = (*c).to_string();
                }
            }
            _ => {}
        }
    }

    /// Changes the value's JSON shape to one the schema allows, where a flat source's spelling
    /// has an obvious reading.
    fn coerce(&mut self, value: &mut Value, view: &View<'s>, path: &str) {
        if view.any {
            return;
        }
        let ty = json_type(value);
        // An integer is acceptable where a number is wanted; T_NUM|T_INT covers that in type_bit.
        if view.allows(ty) && !(ty == T_NULL && view.allows(T_OBJ)) {
            return;
        }
        let replacement = match value {
            Value::Null if view.allows(T_OBJ) => Some(Value::Object(Map::new())),
            Value::Bool(true) if view.allows(T_OBJ) => Some(Value::Object(Map::new())),
            Value::Bool(false) if view.allows(T_NULL) => Some(Value::Null),
            Value::String(s) => self.coerce_str(s, view, path),
            Value::Object(map) if view.allows(T_ARR) && is_indexed(map) => {
                let mut entries: Vec<(usize, Value)> = std::mem::take(map)
                    .into_iter()
                    .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
                    .collect();
                entries.sort_by_key(|(i, _)| *i);
                Some(Value::Array(entries.into_iter().map(|(_, v)| v).collect()))
            }
            Value::Number(n) if view.allows(T_STR) => Some(Value::String(n.to_string())),
            Value::Bool(b) if view.allows(T_STR) => Some(Value::String(b.to_string())),
            _ => None,
        };
        if let Some(r) = replacement {
            *value = r;
        }
    }

    fn coerce_str(&mut self, s: &str, view: &View<'s>, _path: &str) -> Option<Value> {
        let t = s.trim();
        if view.allows(T_INT) {
            if let Ok(i) = t.parse::<i64>() {
                return Some(Value::from(i));
            }
            if let Ok(u) = t.parse::<u64>() {
                return Some(Value::from(u));
            }
        }
        if view.types & T_NUM != 0 {
            if let Ok(f) = t.parse::<f64>() {
                if let Some(n) = serde_json::Number::from_f64(f) {
                    return Some(Value::Number(n));
                }
            }
        }
        if view.allows(T_BOOL) {
            if let Some(b) = parse_bool(t) {
                return Some(Value::Bool(b));
            }
        }
        if view.allows(T_OBJ) {
            if t.is_empty() || parse_bool(t) == Some(true) {
                return Some(Value::Object(Map::new()));
            }
            if parse_bool(t) == Some(false) && view.allows(T_NULL) {
                return Some(Value::Null);
            }
        }
        if view.allows(T_ARR) && view.items_are_scalar(self.root) {
            if t.is_empty() {
                return Some(Value::Array(Vec::new()));
            }
            return Some(Value::Array(
                t.split(',')
                    .map(|p| Value::String(p.trim().to_string()))
                    .collect(),
            ));
        }
        if view.allows(T_NULL) && t.is_empty() {
            return Some(Value::Null);
        }
        None
    }

    fn walk_object(&mut self, map: &mut Map<String, Value>, view: &View<'s>, path: &mut String) {
        let old = std::mem::take(map);
        let mut out = Map::new();
        // Which original key produced each canonical key (for duplicate reports).
        let mut origin: HashMap<String, String> = HashMap::new();
        for (key, mut val) in old {
            let (canon, sub): (String, Option<&'s Value>) = match view.property(&key) {
                Some((p, s)) => (p.to_string(), Some(s)),
                None => {
                    if let Some(add) = view.additional {
                        (key.clone(), Some(add))
                    } else if view.free_keys || view.any {
                        (key.clone(), None)
                    } else {
                        let full = join_path(path, &key);
                        let names = view.properties.iter().map(|(p, _)| *p);
                        let msg = match suggest(&key, names) {
                            Some(s) => format!("unknown key `{full}`; did you mean `{s}`?"),
                            None => format!("unknown key `{full}`"),
                        };
                        self.problems.push(KeyProblem::new(full, msg));
                        continue;
                    }
                }
            };
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&canon);
            if let Some(s) = sub {
                self.walk(&mut val, s, path);
            }
            if let Some(prev) = origin.get(&canon) {
                let msg =
                    format!("`{path}` is given twice (as `{prev}` and `{key}`); the first is kept");
                self.problems.push(KeyProblem::new(path.clone(), msg));
            } else {
                origin.insert(canon.clone(), key);
                out.insert(canon, val);
            }
            path.truncate(len);
        }
        *map = out;
    }
}

fn is_indexed(map: &Map<String, Value>) -> bool {
    !map.is_empty()
        && map
            .keys()
            .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, PartialEq, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", default)]
    struct Inner {
        main: String,
        sans: Vec<String>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", default)]
    struct Item {
        rule: String,
        entry_points: Vec<String>,
        priority: Option<i64>,
        weight: Option<u32>,
        ratio: Option<f64>,
        enabled: bool,
        tls: Option<Inner>,
        domains: Vec<Inner>,
        headers: BTreeMap<String, String>,
        extra: Option<serde_json::Value>,
        mode: Option<Mode>,
    }

    #[derive(Debug, PartialEq, Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Http,
        Grpc,
    }

    #[derive(Debug, Default, PartialEq, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", default)]
    struct Root {
        items: BTreeMap<String, Item>,
        docker: Option<Docker>,
        api: Option<Docker>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", default)]
    struct Docker {
        exposed_by_default: Option<bool>,
    }

    #[test]
    fn keys_match_case_insensitively_and_are_rewritten() {
        let mut v = json!({"ITEMS": {"Api": {"RULE": "Host(`a`)", "EntryPoints": ["web"]}}});
        let problems = canonicalize(&mut v, schema_for::<Root>());
        assert!(problems.is_empty(), "{problems:?}");
        // Map key `Api` kept as written.
        assert_eq!(
            v,
            json!({"items": {"Api": {"rule": "Host(`a`)", "entryPoints": ["web"]}}})
        );
    }

    #[test]
    fn unknown_key_is_reported_with_suggestion_and_removed() {
        let mut v = json!({"items": {"api": {"rulee": "x", "zzzzzzzz": 1, "rule": "y"}}});
        let problems = canonicalize(&mut v, schema_for::<Root>());
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].path, "items.api.rulee");
        assert_eq!(
            problems[0].message,
            "unknown key `items.api.rulee`; did you mean `rule`?"
        );
        assert_eq!(problems[1].message, "unknown key `items.api.zzzzzzzz`");
        assert_eq!(v, json!({"items": {"api": {"rule": "y"}}}));
    }

    #[test]
    fn strings_coerce_to_scalars() {
        let v = json!({"items": {"a": {"priority": "42", "weight": " 7 ", "ratio": "0.5",
            "enabled": "TRUE"}}});
        let r: Root = decode(v).unwrap();
        let a = &r.items["a"];
        assert_eq!(a.priority, Some(42));
        assert_eq!(a.weight, Some(7));
        assert_eq!(a.ratio, Some(0.5));
        assert!(a.enabled);
    }

    #[test]
    fn comma_string_becomes_array() {
        let v = json!({"items": {"a": {"entryPoints": "web, websecure", "tls": {"sans": "a.com,b.com"}}}});
        let r: Root = decode(v).unwrap();
        assert_eq!(r.items["a"].entry_points, vec!["web", "websecure"]);
        assert_eq!(
            r.items["a"].tls.as_ref().unwrap().sans,
            vec!["a.com", "b.com"]
        );
    }

    #[test]
    fn indexed_object_becomes_array() {
        let v = json!({"items": {"a": {"domains": {"1": {"main": "b"}, "0": {"main": "a", "sans": "x,y"}}}}});
        let r: Root = decode(v).unwrap();
        let d = &r.items["a"].domains;
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].main, "a");
        assert_eq!(d[0].sans, vec!["x", "y"]);
        assert_eq!(d[1].main, "b");
    }

    #[test]
    fn true_empty_and_null_become_empty_object() {
        for v in [
            json!({"docker": "true"}),
            json!({"docker": true}),
            json!({"docker": ""}),
            json!({"docker": null}),
        ] {
            let r: Root = decode(v.clone()).unwrap();
            assert_eq!(r.docker, Some(Docker::default()), "{v}");
        }
        let r: Root = decode(json!({"docker": "false", "api": false})).unwrap();
        assert_eq!(r.docker, None);
        assert_eq!(r.api, None);
    }

    #[test]
    fn map_values_are_walked_and_free_form_left_alone() {
        let v = json!({"items": {"a": {"headers": {"X-Foo": 1}, "extra": {"AnyThing": "1"}}}});
        let r: Root = decode(v).unwrap();
        assert_eq!(r.items["a"].headers["X-Foo"], "1");
        assert_eq!(r.items["a"].extra, Some(json!({"AnyThing": "1"})));
    }

    #[test]
    fn enum_values_match_case_insensitively() {
        let r: Root = decode(json!({"items": {"a": {"mode": "GRPC"}}})).unwrap();
        assert_eq!(r.items["a"].mode, Some(Mode::Grpc));
    }

    #[test]
    fn type_errors_carry_the_path() {
        let err = decode::<Root>(json!({"items": {"a": {"weight": "heavy"}}})).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].path, "items.a.weight");
        assert!(
            err[0].message.starts_with("`items.a.weight`: invalid type"),
            "{}",
            err[0].message
        );
        let err = decode::<Root>(json!({"items": {"a": {"domains": [{"main": 3}, {"main": []}]}}}))
            .unwrap_err();
        assert_eq!(err[0].path, "items.a.domains[1].main");
    }

    #[test]
    fn decode_at_prefixes_paths() {
        let err = decode_at::<Item>(json!({"rulle": "x"}), "http.routers.api").unwrap_err();
        assert_eq!(err[0].path, "http.routers.api.rulle");
        assert_eq!(
            err[0].message,
            "unknown key `http.routers.api.rulle`; did you mean `rule`?"
        );
    }

    #[test]
    fn duplicate_keys_after_canonicalization_are_reported() {
        let mut v = json!({"items": {"a": {"rule": "x", "RULE": "y"}}});
        let problems = canonicalize(&mut v, schema_for::<Root>());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "items.a.rule");
    }

    #[test]
    fn suggestions_only_when_close() {
        assert_eq!(
            suggest("entrypoint", ["entryPoints", "rule"]),
            Some("entryPoints")
        );
        assert_eq!(suggest("servce", ["service", "rule"]), Some("service"));
        assert_eq!(suggest("banana", ["service", "rule"]), None);
    }

    #[test]
    fn schema_is_cached_per_type() {
        let a = schema_for::<Root>() as *const Schema;
        let b = schema_for::<Root>() as *const Schema;
        assert_eq!(a, b);
        assert_ne!(a, schema_for::<Item>() as *const Schema);
    }

    #[test]
    fn dynamic_config_round_trips_through_canonicalize() {
        let v = json!({"HTTP": {"Routers": {"api": {"Rule": "Host(`a`)", "Service": "s",
            "TLS": "true", "Priority": "10"}}, "services": {"s": {"loadBalancer": {"servers":
            {"0": {"URL": "http://x"}}, "passHostHeader": "false"}}}}});
        let cfg: crate::DynamicConfig = decode(v).unwrap();
        let r = &cfg.http.routers["api"];
        assert_eq!(r.priority, Some(10));
        assert!(r.tls.is_some());
        let lb = cfg.http.services["s"].load_balancer.as_ref().unwrap();
        assert_eq!(lb.servers[0].url, "http://x");
        assert!(!lb.pass_host_header);
    }
}
