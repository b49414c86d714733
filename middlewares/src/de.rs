//! Lenient deserializers for spec fields. Traefik reads every option from flat string labels as
//! well as from typed files, so `"100"`, `"true"` and `"a,b"` are accepted where a number, a bool
//! or a list is expected (Docker labels carry only strings). Range checks (negative numbers and
//! the like) belong to `compile`, so a bad value disables one middleware, not a whole provider.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// One scalar as any format may carry it.
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Null,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a boolean or a string")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        i64::try_from(v)
            .map(Scalar::Int)
            .map_err(|_| E::custom("number too large"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

fn scalar_to_bool<E: de::Error>(s: Scalar) -> Result<Option<bool>, E> {
    match s {
        Scalar::Bool(b) => Ok(Some(b)),
        Scalar::Null => Ok(None),
        Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            "" => Ok(None),
            other => Err(E::custom(format!("expected true or false, got {other:?}"))),
        },
        Scalar::Int(i) => Ok(Some(i != 0)),
        Scalar::Float(_) => Err(E::custom("expected true or false, got a number")),
    }
}

fn scalar_to_int<E: de::Error>(s: Scalar) -> Result<Option<i64>, E> {
    match s {
        Scalar::Int(i) => Ok(Some(i)),
        Scalar::Null => Ok(None),
        Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
        Scalar::Float(f) => Err(E::custom(format!("expected an integer, got {f}"))),
        Scalar::Str(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<i64>()
                .map(Some)
                .map_err(|_| E::custom(format!("expected an integer, got {s:?}")))
        }
        Scalar::Bool(_) => Err(E::custom("expected an integer, got a boolean")),
    }
}

fn scalar_to_string(s: Scalar) -> Option<String> {
    match s {
        Scalar::Str(s) => Some(s),
        Scalar::Int(i) => Some(i.to_string()),
        Scalar::Float(f) => Some(f.to_string()),
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Null => None,
    }
}

pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(scalar_to_bool(d.deserialize_any(ScalarVisitor)?)?.unwrap_or(false))
}

pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    scalar_to_bool(d.deserialize_any(ScalarVisitor)?)
}

pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(scalar_to_int(d.deserialize_any(ScalarVisitor)?)?.unwrap_or(0))
}

pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    scalar_to_int(d.deserialize_any(ScalarVisitor)?)
}

/// A string; numbers and booleans are taken as their text (a label `port=443` is a string).
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(scalar_to_string(d.deserialize_any(ScalarVisitor)?).unwrap_or_default())
}

/// A list of strings, or one string that Traefik's label syntax splits on commas.
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<LenientString>()? {
                out.push(item.0);
            }
            Ok(out)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
            d.deserialize_any(V)
        }
        // Label trees sometimes index lists as maps: {"0": "a", "1": "b"}.
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut items: Vec<(u64, String)> = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, LenientString>()? {
                let idx = k.parse::<u64>().map_err(|_| {
                    de::Error::custom(format!("expected a list, found the key {k:?}"))
                })?;
                items.push((idx, v.0));
            }
            items.sort_by_key(|(i, _)| *i);
            Ok(items.into_iter().map(|(_, v)| v).collect())
        }
    }
    d.deserialize_any(V)
}

/// A map of string → integer whose values may be strings (`statusRewrites` from labels).
pub fn int_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, i64>, D::Error> {
    let raw: Option<BTreeMap<String, LenientInt>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// A map of string → string whose values may be numbers or booleans.
pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, LenientString>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// A section that Traefik allows to be declared empty: `compress: {}`, `compress: true` (label
/// `...compress=true`) or `compress:` with no value all mean "present with defaults".
pub fn allow_empty<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Null | serde_json::Value::Bool(true) => Ok(Some(T::default())),
        serde_json::Value::String(s) if s.is_empty() || s.eq_ignore_ascii_case("true") => {
            Ok(Some(T::default()))
        }
        serde_json::Value::Bool(false) => Ok(None),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(None),
        other => T::deserialize(other).map(Some).map_err(de::Error::custom),
    }
}

struct LenientString(String);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(LenientString(string(d)?))
    }
}

struct LenientInt(i64);

impl<'de> Deserialize<'de> for LenientInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(LenientInt(int(d)?))
    }
}

/// `skip_serializing_if` helper.
pub fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// `skip_serializing_if` helper.
pub fn is_false(v: &bool) -> bool {
    !*v
}
