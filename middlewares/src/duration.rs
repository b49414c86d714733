//! A duration as Traefik's middleware options spell it: a Go duration string ("10s", "1m30s",
//! "250ms") or a bare number of seconds. Signed on purpose: a negative value parses, so the
//! compiler can disable just that middleware with a precise message instead of failing the
//! whole provider's configuration at deserialization time.

use std::fmt;

/// Nanoseconds, signed. (De)serializes in Traefik's forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

/// Why a duration did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {reason} (examples: \"10s\", \"1m30s\", \"250ms\", 30)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_nanos(n: i64) -> Self {
        Duration(n)
    }
    pub const fn from_millis(ms: i64) -> Self {
        Duration(ms.saturating_mul(1_000_000))
    }
    pub const fn from_secs(s: i64) -> Self {
        Duration(s.saturating_mul(1_000_000_000))
    }
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
    /// The value as a std duration; `None` when negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.0)
            .ok()
            .map(std::time::Duration::from_nanos)
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
        if let Ok(secs) = s.parse::<i64>() {
            return secs
                .checked_mul(1_000_000_000)
                .map(Duration)
                .ok_or_else(|| err("too large"));
        }
        let (neg, mut rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let mut total: f64 = 0.0;
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
            let scale: f64 = match &rest[..unit_end] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(err("unknown unit (use ns, us, ms, s, m, h)")),
            };
            rest = &rest[unit_end..];
            total += num * scale;
            if !total.is_finite() || total > 9.2e18 {
                return Err(err("too large"));
            }
        }
        let n = total.round() as i64;
        Ok(Duration(if neg { -n } else { n }))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n % 1_000_000_000 == 0 {
            write!(f, "{}s", n / 1_000_000_000)
        } else if n % 1_000_000 == 0 {
            write!(f, "{}ms", n / 1_000_000)
        } else {
            write!(f, "{n}ns")
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
                i64::try_from(v)
                    .ok()
                    .and_then(|s| s.checked_mul(1_000_000_000))
                    .map(Duration)
                    .ok_or_else(|| E::custom("duration too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                v.checked_mul(1_000_000_000)
                    .map(Duration)
                    .ok_or_else(|| E::custom("duration too large"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                if v.is_finite() && v.abs() < 9.2e9 {
                    Ok(Duration((v * 1e9).round() as i64))
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
            "anyOf": [{"type": "string"}, {"type": "integer"}]
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
        assert_eq!(Duration::parse("-1s").unwrap(), Duration::from_secs(-1));
        assert!(Duration::parse("10x").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("s").is_err());
    }

    #[test]
    fn serde_round_trip() {
        let d: Duration = serde_json::from_str("\"100ms\"").unwrap();
        assert_eq!(d, Duration::from_millis(100));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"100ms\"");
        let d: Duration = serde_json::from_str("2").unwrap();
        assert_eq!(d, Duration::from_secs(2));
        assert_eq!(d.to_std(), Some(std::time::Duration::from_secs(2)));
        assert_eq!(Duration::from_secs(-2).to_std(), None);
    }
}
