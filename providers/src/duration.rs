//! A duration as Traefik's configuration spells it: a Go duration string ("10s", "1m30s",
//! "250ms") or a bare number of seconds. Used by every model type with a time in it.

use std::fmt;

/// Wraps `std::time::Duration`; (de)serializes in Traefik's forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

/// Why a duration did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {reason} (examples: \"10s\", \"1m30s\", \"250ms\", 30)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }
    pub fn get(self) -> std::time::Duration {
        self.0
    }

    /// Parses a Go duration string, or a bare integer meaning seconds (as Traefik reads them).
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let s = input.trim();
        let err = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        if s == "0" {
            return Ok(Duration::default());
        }
        let (neg, mut rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        if neg {
            return Err(err("negative durations are not allowed"));
        }
        let mut total_nanos: u128 = 0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| err("missing unit"))?;
            if num_end == 0 {
                return Err(err("expected a number"));
            }
            let num: f64 = rest[..num_end].parse().map_err(|_| err("bad number"))?;
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let scale: f64 = match unit {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(err("unknown unit (use ns, us, ms, s, m, h)")),
            };
            let n = num * scale;
            if !n.is_finite() || n > 1e20 {
                return Err(err("too large"));
            }
            total_nanos += n as u128;
        }
        let nanos = u64::try_from(total_nanos).map_err(|_| err("too large"))?;
        Ok(Duration(std::time::Duration::from_nanos(nanos)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.as_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}ns", d.as_nanos())
        }
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"10s\" or a number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v)
                    .map(Duration::from_secs)
                    .map_err(|_| E::custom("negative durations are not allowed"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                if v.is_finite() && (0.0..1e12).contains(&v) {
                    Ok(Duration(std::time::Duration::from_secs_f64(v)))
                } else {
                    Err(E::custom("invalid duration"))
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Go duration (\"10s\", \"1m30s\", \"250ms\") or a number of seconds.",
            "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_traefik_forms() {
        assert_eq!(Duration::parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(Duration::parse("30").unwrap(), Duration::from_secs(30));
        assert_eq!(Duration::parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            Duration::parse("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(Duration::parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(Duration::parse("10x").is_err());
        assert!(Duration::parse("-1s").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("s").is_err());
    }
}
