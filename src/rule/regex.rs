//! Regex support for rule matchers: Go RE2 patterns (what Traefik users write) translated for the
//! `regex` crate, compiled once at parse time, plus the proof that a host regex only matches
//! names under a literal suffix (for the route table's host index).

use regex::bytes::{Regex, RegexBuilder};

/// A compiled pattern that remembers its source (for `Display` and equality).
#[derive(Clone, Debug)]
pub(crate) struct Re {
    pub src: String,
    pub re: Regex,
}

impl PartialEq for Re {
    fn eq(&self, other: &Self) -> bool {
        self.src == other.src
    }
}

impl Re {
    /// Compiles a Go-flavoured pattern; the error is the regex crate's message in one line.
    /// Differences left: the regex crate accepts a few patterns Go rejects (`a**`, `\1`).
    pub fn go(src: &str) -> Result<Re, String> {
        let translated = go_to_rust(src);
        compile(&translated).map(|re| Re {
            src: src.to_string(),
            re,
        })
    }

    /// Compiles a pattern already in `regex` crate syntax, remembering `display` as its source.
    pub fn built(display: &str, pattern: &str) -> Result<Re, String> {
        compile(pattern).map(|re| Re {
            src: display.to_string(),
            re,
        })
    }

    #[inline]
    pub fn is_match(&self, s: &[u8]) -> bool {
        self.re.is_match(s)
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        // Go accepts octal escapes (`\101`).
        .octal(true)
        // Bound what one user rule can cost in memory.
        .size_limit(8 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(s) => s
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .map_or_else(
                    || s.clone(),
                    |l| l.trim_start_matches("error:").trim().to_string(),
                ),
            regex::Error::CompiledTooBig(limit) => {
                format!("pattern too large (limit {limit} bytes)")
            }
            other => other.to_string(),
        })
}

/// Translates Go RE2 syntax to the `regex` crate's where they differ:
/// - `{` that does not start a repetition (`{2}`, `{2,}`, `{2,5}`) is a literal in Go, an error
///   in Rust: it gets escaped (so v2-style `{name:...}` in a PathRegexp means what Traefik v3
///   makes of it: literal braces);
/// - `\d`, `\w`, `\s`, `\b` are ASCII-only in Go, Unicode-aware in Rust: made ASCII;
/// - `\Q...\E` (literal text), `\C` (any byte), and `\<`, `\>` (literals in Go, word
///   boundaries in Rust) are rewritten.
pub(crate) fn go_to_rust(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    out.push('\\');
                    break;
                };
                i += 2;
                if e == 'Q' {
                    // `\Q...\E`: everything in between is literal.
                    let rest: String = chars[i..].iter().collect();
                    let (lit, consumed) = match rest.find("\\E") {
                        Some(end) => (&rest[..end], rest[..end].chars().count() + 2),
                        None => (rest.as_str(), rest.chars().count()),
                    };
                    for c in lit.chars() {
                        if r"\.+*?()|[]{}^$#&-~".contains(c) {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    i += consumed;
                    continue;
                }
                let ascii = match (in_class, e) {
                    (false, 'd') => Some("[0-9]"),
                    (false, 'D') => Some("[^0-9]"),
                    (false, 'w') => Some("[0-9A-Za-z_]"),
                    (false, 'W') => Some("[^0-9A-Za-z_]"),
                    (false, 's') => Some(r"[\t\n\f\r ]"),
                    (false, 'S') => Some(r"[^\t\n\f\r ]"),
                    (false, 'b') => Some(r"(?-u:\b)"),
                    (false, 'B') => Some(r"(?-u:\B)"),
                    (true, 'd') => Some("0-9"),
                    (true, 'w') => Some("0-9A-Za-z_"),
                    (true, 's') => Some(r"\t\n\f\r "),
                    // Any byte.
                    (false, 'C') => Some(r"(?s-u:.)"),
                    // Literals in Go, word boundaries in the regex crate.
                    (_, '<') => Some("<"),
                    (_, '>') => Some(">"),
                    _ => None,
                };
                match ascii {
                    Some(s) => out.push_str(s),
                    None => {
                        out.push('\\');
                        out.push(e);
                        // `\p{Greek}`, `\x{263a}`: copy the braces through untouched.
                        if matches!(e, 'p' | 'P' | 'x') && chars.get(i) == Some(&'{') {
                            while i < chars.len() {
                                out.push(chars[i]);
                                i += 1;
                                if chars[i - 1] == '}' {
                                    break;
                                }
                            }
                        }
                    }
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in a class is a literal in both dialects.
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            '[' if in_class && chars.get(i + 1) == Some(&':') => {
                // `[:alpha:]` inside a class.
                let rest: String = chars[i..].iter().collect();
                if let Some(end) = rest.find(":]") {
                    out.push_str(&rest[..end + 2]);
                    i += rest[..end + 2].chars().count();
                } else {
                    out.push_str(r"\[");
                    i += 1;
                }
                continue;
            }
            '[' => out.push_str(r"\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '{' if !in_class => {
                if is_repetition(&chars[i..]) {
                    out.push('{');
                } else {
                    out.push_str(r"\{");
                }
            }
            '}' if !in_class => {
                // Closing brace of a repetition we copied, or a literal.
                if closes_repetition(&out) {
                    out.push('}');
                } else {
                    out.push_str(r"\}");
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// `{n}`, `{n,}` or `{n,m}` at the start of `s`.
fn is_repetition(s: &[char]) -> bool {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if s.get(i) == Some(&',') {
        i += 1;
        digits(&mut i);
    }
    s.get(i) == Some(&'}')
}

/// Whether the output so far ends with an opened repetition `{n` / `{n,` / `{n,m`.
fn closes_repetition(out: &str) -> bool {
    let tail = out.trim_end_matches(|c: char| c.is_ascii_digit() || c == ',');
    tail.ends_with('{') && !tail.ends_with(r"\{") && tail.len() < out.len()
}

/// Finds a gorilla/mux placeholder (`{name}` or `{name:pattern}`) in a v3 value: the byte
/// offset of its `{`. A repetition such as `{2,3}` is not a placeholder.
pub(crate) fn find_placeholder(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            // `\p{Greek}`, `\x{41}`: braces of an escape, not a placeholder.
            if matches!(b.get(i + 1), Some(b'p' | b'P' | b'x')) && b.get(i + 2) == Some(&b'{') {
                i += s[i..].find('}').map_or(b.len(), |end| end + 1);
            } else {
                i += 2;
            }
            continue;
        }
        if b[i] == b'{' {
            let name_len = b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'-')
                .count();
            let first_ok = b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
            if first_ok && name_len > 0 && matches!(b.get(i + 1 + name_len), Some(b':' | b'}')) {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// What a host regex provably restricts the host to, if anything.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HostBound {
    /// Only this exact (lower-case) name.
    Exact(String),
    /// Only names ending in `.` + this suffix.
    Suffix(String),
}

/// Proves, conservatively, that a Go host regex (matched unanchored against the lower-case host)
/// can only match one exact name or names under a literal suffix. It accepts patterns of the
/// form `^ <anything without top-level | or flags> <literal run> $` where the literal run is made
/// of `[a-z0-9-]` and `\.`; anything it cannot read returns `None` (the rule then goes to the
/// host-less list, which is always correct).
pub(crate) fn host_bound(p: &str) -> Option<HostBound> {
    let b = p.as_bytes();
    if b.first() != Some(&b'^') || !p.is_ascii() {
        return None;
    }
    // Tokenize: (start, end, depth, is_literal_char, literal_text).
    struct Tok {
        depth: usize,
        lit: Option<char>,
        dollar: bool,
    }
    let mut toks: Vec<Tok> = Vec::new();
    let mut depth = 0usize;
    let mut i = 1;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                let e = *b.get(i + 1)?;
                let lit = if e == b'.' { Some('.') } else { None };
                if e.is_ascii_alphanumeric() && !matches!(e, b'.') {
                    // Escapes like \d, \x2e, \pL: not a literal run member.
                    if matches!(e, b'p' | b'P' | b'x') && b.get(i + 2) == Some(&b'{') {
                        let end = p[i..].find('}')?;
                        toks.push(Tok {
                            depth,
                            lit: None,
                            dollar: false,
                        });
                        i += end + 1;
                        continue;
                    }
                }
                toks.push(Tok {
                    depth,
                    lit,
                    dollar: false,
                });
                i += 2;
            }
            b'[' => {
                // Skip a class (with `]` first as literal, and `[:name:]` inside).
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    j += 1;
                }
                loop {
                    match b.get(j)? {
                        b'\\' => j += 2,
                        b'[' if b.get(j + 1) == Some(&b':') => {
                            j += p[j..].find(":]")? + 2;
                        }
                        b']' => break,
                        _ => j += 1,
                    }
                }
                toks.push(Tok {
                    depth,
                    lit: None,
                    dollar: false,
                });
                i = j + 1;
            }
            b'(' => {
                if b.get(i + 1) == Some(&b'?') {
                    // Only non-capturing and named groups; flags (i, m, s, U) give up.
                    let rest = &p[i + 2..];
                    if !(rest.starts_with(':') || rest.starts_with("P<") || rest.starts_with('<')) {
                        return None;
                    }
                }
                depth += 1;
                toks.push(Tok {
                    depth,
                    lit: None,
                    dollar: false,
                });
                i += 1;
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                toks.push(Tok {
                    depth,
                    lit: None,
                    dollar: false,
                });
                i += 1;
            }
            b'|' if depth == 0 => return None,
            b'$' => {
                toks.push(Tok {
                    depth,
                    lit: None,
                    dollar: true,
                });
                i += 1;
            }
            b'a'..=b'z' | b'0'..=b'9' | b'-' => {
                toks.push(Tok {
                    depth,
                    lit: Some(c as char),
                    dollar: false,
                });
                i += 1;
            }
            _ => {
                toks.push(Tok {
                    depth,
                    lit: None,
                    dollar: false,
                });
                i += 1;
            }
        }
    }
    let last = toks.pop()?;
    if !last.dollar || last.depth != 0 || toks.iter().any(|t| t.dollar) {
        return None;
    }
    // The literal run right before `$` at depth 0 (a literal followed by a quantifier is not in
    // the run, since the quantifier token sits between it and `$`).
    let run_len = toks
        .iter()
        .rev()
        .take_while(|t| t.depth == 0 && t.lit.is_some())
        .count();
    let run: String = toks[toks.len() - run_len..]
        .iter()
        .filter_map(|t| t.lit)
        .collect();
    if run_len == toks.len() {
        return (!run.is_empty()).then_some(HostBound::Exact(run));
    }
    let dot = run.find('.')?;
    let suffix = &run[dot + 1..];
    if suffix.is_empty()
        || suffix.starts_with('.')
        || suffix.ends_with('.')
        || suffix.contains("..")
    {
        return None;
    }
    Some(HostBound::Suffix(suffix.to_string()))
}
