//! Rule text → expression tree: the tokenizer (Go expression tokens, as Traefik parses rules with
//! `go/parser` through vulcand/predicate) and a precedence parser; leaves are built by
//! `matcher::build_v3` or `v2::build_v2`. Every error carries the 1-based column it points at.

use super::matcher::{self, Expr};
use super::{v2, RuleError, RuleSyntax};

/// Matcher names of v3 syntax, as Traefik registers them (`pkg/muxer/http/matcher.go`).
pub(crate) const V3_NAMES: &[&str] = &[
    "ClientIP",
    "Method",
    "Host",
    "HostRegexp",
    "Path",
    "PathRegexp",
    "PathPrefix",
    "Header",
    "HeaderRegexp",
    "Query",
    "QueryRegexp",
];

/// Matcher names of v2 syntax (`pkg/muxer/http/matcher_v2.go`).
pub(crate) const V2_NAMES: &[&str] = &[
    "Host",
    "HostHeader",
    "HostRegexp",
    "ClientIP",
    "Path",
    "PathPrefix",
    "Method",
    "Headers",
    "HeadersRegexp",
    "Query",
];

/// One matcher call as written: its canonical name and its string arguments.
pub(crate) struct Call<'s> {
    pub src: &'s str,
    /// Canonical spelling (`HostRegexp`), whatever case the rule used.
    pub name: &'static str,
    /// Byte offset of the name in `src`.
    pub name_pos: usize,
    pub args: Vec<Arg>,
}

/// A string argument and the byte offset of its opening quote.
pub(crate) struct Arg {
    pub value: String,
    pub pos: usize,
}

impl Call<'_> {
    pub fn err(&self, pos: usize, message: impl Into<String>) -> RuleError {
        err_at(self.src, pos, message)
    }
    pub fn err_name(&self, message: impl Into<String>) -> RuleError {
        err_at(self.src, self.name_pos, message)
    }
}

/// Builds an error at a byte offset, converted to a 1-based column counted in characters.
pub(crate) fn err_at(src: &str, pos: usize, message: impl Into<String>) -> RuleError {
    let pos = pos.min(src.len());
    let column = src.get(..pos).map_or(pos, |s| s.chars().count()) + 1;
    RuleError {
        column,
        message: message.into(),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Str(_) => "a string".to_string(),
            Tok::LParen => "`(`".to_string(),
            Tok::RParen => "`)`".to_string(),
            Tok::Comma => "`,`".to_string(),
            Tok::And => "`&&`".to_string(),
            Tok::Or => "`||`".to_string(),
            Tok::Not => "`!`".to_string(),
            Tok::Eof => "the end of the rule".to_string(),
        }
    }
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn bytes(&self) -> &'s [u8] {
        self.src.as_bytes()
    }

    /// Skips whitespace and Go comments. Unlike `go/parser`, a newline before an operator is
    /// accepted (Traefik rejects `Host(..)\n&& Path(..)` because of Go's semicolon insertion);
    /// accepting it changes no rule that Traefik accepts.
    fn skip_blank(&mut self) -> Result<(), RuleError> {
        let b = self.bytes();
        loop {
            match b.get(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if b.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.pos;
                    match self.src[self.pos + 2..].find("*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => return Err(err_at(self.src, start, "unterminated comment")),
                    }
                }
                Some(b'/') if b.get(self.pos + 1) == Some(&b'/') => {
                    match self.src[self.pos..].find('\n') {
                        Some(end) => self.pos += end + 1,
                        None => self.pos = b.len(),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next token and the byte offset where it starts.
    fn next(&mut self) -> Result<(Tok, usize), RuleError> {
        self.skip_blank()?;
        let start = self.pos;
        let b = self.bytes();
        let Some(&c) = b.get(start) else {
            return Ok((Tok::Eof, start));
        };
        let two = |next: u8| b.get(start + 1) == Some(&next);
        let tok =
            match c {
                b'(' => {
                    self.pos += 1;
                    Tok::LParen
                }
                b')' => {
                    self.pos += 1;
                    Tok::RParen
                }
                b',' => {
                    self.pos += 1;
                    Tok::Comma
                }
                b'&' if two(b'&') => {
                    self.pos += 2;
                    Tok::And
                }
                b'|' if two(b'|') => {
                    self.pos += 2;
                    Tok::Or
                }
                b'&' => return Err(err_at(self.src, start, "expected `&&`, found a single `&`")),
                b'|' => return Err(err_at(self.src, start, "expected `||`, found a single `|`")),
                b'!' if two(b'=') => {
                    return Err(err_at(
                        self.src,
                        start,
                        "`!=` is not supported; negate a matcher with `!`",
                    ))
                }
                b'!' => {
                    self.pos += 1;
                    Tok::Not
                }
                b'`' => Tok::Str(self.raw_string(start)?),
                b'"' => Tok::Str(self.interpreted_string(start)?),
                b'\'' => return Err(err_at(
                    self.src,
                    start,
                    "single quotes are not accepted; quote values with backticks or double quotes",
                )),
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let len = b[start..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                        .count();
                    self.pos += len;
                    Tok::Ident(self.src[start..start + len].to_string())
                }
                _ => {
                    let ch = self.src[start..].chars().next().unwrap_or('?');
                    return Err(err_at(
                        self.src,
                        start,
                        format!("unexpected character `{ch}`"),
                    ));
                }
            };
        Ok((tok, start))
    }

    /// A Go raw string: everything up to the next backtick, carriage returns removed.
    fn raw_string(&mut self, start: usize) -> Result<String, RuleError> {
        match self.src[start + 1..].find('`') {
            Some(len) => {
                self.pos = start + 1 + len + 1;
                Ok(self.src[start + 1..start + 1 + len].replace('\r', ""))
            }
            None => Err(err_at(
                self.src,
                start,
                "unterminated string: missing closing backtick",
            )),
        }
    }

    /// A Go interpreted string with its escapes (`\n`, `\"`, `\\`, `\x41`, `\101`, `\u00e9`...).
    fn interpreted_string(&mut self, start: usize) -> Result<String, RuleError> {
        let b = self.bytes();
        let mut out: Vec<u8> = Vec::new();
        let mut i = start + 1;
        loop {
            let Some(&c) = b.get(i) else {
                return Err(err_at(
                    self.src,
                    start,
                    "unterminated string: missing closing `\"`",
                ));
            };
            match c {
                b'"' => break,
                b'\n' => {
                    return Err(err_at(
                        self.src,
                        start,
                        "unterminated string: missing closing `\"`",
                    ))
                }
                b'\\' => {
                    let esc = i;
                    let bad = |msg: &str| err_at(self.src, esc, msg.to_string());
                    let Some(&e) = b.get(i + 1) else {
                        return Err(err_at(
                            self.src,
                            start,
                            "unterminated string: missing closing `\"`",
                        ));
                    };
                    i += 2;
                    match e {
                        b'a' => out.push(0x07),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'v' => out.push(0x0b),
                        b'\\' => out.push(b'\\'),
                        b'"' => out.push(b'"'),
                        b'0'..=b'7' => {
                            let digits = b
                                .get(i - 1..i + 2)
                                .ok_or_else(|| bad("invalid octal escape"))?;
                            let mut v: u32 = 0;
                            for d in digits {
                                if !(b'0'..=b'7').contains(d) {
                                    return Err(bad(
                                        "invalid octal escape: expected 3 octal digits",
                                    ));
                                }
                                v = v * 8 + u32::from(d - b'0');
                            }
                            let byte =
                                u8::try_from(v).map_err(|_| bad("octal escape value above 255"))?;
                            out.push(byte);
                            i += 2;
                        }
                        b'x' | b'u' | b'U' => {
                            let n = match e {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let hex = self
                                .src
                                .get(i..i + n)
                                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                                .ok_or_else(|| {
                                    bad(&format!("invalid escape: expected {n} hex digits"))
                                })?;
                            let v = u32::from_str_radix(hex, 16)
                                .map_err(|_| bad("invalid hex escape"))?;
                            i += n;
                            if e == b'x' {
                                out.push(v as u8);
                            } else {
                                let ch = char::from_u32(v).ok_or_else(|| {
                                    bad("escape is not a valid Unicode code point")
                                })?;
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                        _ => return Err(bad("unknown escape sequence")),
                    }
                    continue;
                }
                _ => out.push(c),
            }
            i += 1;
        }
        self.pos = i + 1;
        String::from_utf8(out)
            .map_err(|_| err_at(self.src, start, "string escapes do not form valid UTF-8"))
    }
}

struct Parser<'s> {
    lexer: Lexer<'s>,
    tok: Tok,
    tok_pos: usize,
    syntax: RuleSyntax,
    /// Nesting of `(` and `!`, bounded so hostile input cannot overflow the stack (here, in
    /// `Display`, in evaluation or in drop).
    depth: usize,
}

/// Deepest nesting of parentheses and `!` a rule may have.
pub(crate) const MAX_DEPTH: usize = 64;

/// Parses a whole rule into an expression tree.
pub(crate) fn parse_expr(src: &str, syntax: RuleSyntax) -> Result<Expr, RuleError> {
    let mut lexer = Lexer { src, pos: 0 };
    let (tok, tok_pos) = lexer.next()?;
    if tok == Tok::Eof {
        return Err(err_at(src, 0, "empty rule"));
    }
    let mut p = Parser {
        lexer,
        tok,
        tok_pos,
        syntax,
        depth: 0,
    };
    let expr = p.or()?;
    match p.tok {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(p.err("unbalanced parentheses: this `)` has no matching `(`")),
        ref t => Err(p.err(format!("expected `&&` or `||`, found {}", t.describe()))),
    }
}

impl Parser<'_> {
    fn src(&self) -> &str {
        self.lexer.src
    }

    fn bump(&mut self) -> Result<(), RuleError> {
        let (tok, pos) = self.lexer.next()?;
        self.tok = tok;
        self.tok_pos = pos;
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> RuleError {
        err_at(self.src(), self.tok_pos, message)
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let first = self.and()?;
        if self.tok != Tok::Or {
            return Ok(first);
        }
        let mut items = Vec::new();
        push_flat(&mut items, first, true);
        while self.tok == Tok::Or {
            self.bump()?;
            let next = self.and()?;
            push_flat(&mut items, next, true);
        }
        Ok(Expr::Or(items))
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let first = self.unary()?;
        if self.tok != Tok::And {
            return Ok(first);
        }
        let mut items = Vec::new();
        push_flat(&mut items, first, false);
        while self.tok == Tok::And {
            self.bump()?;
            let next = self.unary()?;
            push_flat(&mut items, next, false);
        }
        Ok(Expr::And(items))
    }

    fn enter(&mut self) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!(
                "rule nested too deeply (more than {MAX_DEPTH} levels of `(` and `!`)"
            )));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        if self.tok == Tok::Not {
            self.enter()?;
            self.bump()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, RuleError> {
        match std::mem::replace(&mut self.tok, Tok::Eof) {
            Tok::LParen => {
                let open = self.tok_pos;
                self.enter()?;
                self.bump()?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.tok {
                    Tok::RParen => {
                        self.bump()?;
                        Ok(inner)
                    }
                    Tok::Eof => Err(err_at(
                        self.src(),
                        open,
                        "unbalanced parentheses: this `(` is never closed",
                    )),
                    ref t => Err(self.err(format!(
                        "expected `)`, `&&` or `||`, found {}",
                        t.describe()
                    ))),
                }
            }
            Tok::Ident(name) => self.call(name),
            Tok::Eof => Err(self
                .err("expected a matcher such as Host(`example.com`), found the end of the rule")),
            Tok::RParen => Err(self.err("expected a matcher, found `)`")),
            Tok::Str(_) => {
                Err(self
                    .err("a string must be the argument of a matcher, e.g. Host(`example.com`)"))
            }
            t => Err(self.err(format!("expected a matcher, found {}", t.describe()))),
        }
    }

    fn call(&mut self, name: String) -> Result<Expr, RuleError> {
        let name_pos = self.tok_pos;
        let resolved = resolve_name(self.src(), &name, name_pos, self.syntax)?;
        let canon = match resolved {
            Name::Own(c) | Name::Other(c) => c,
        };
        self.bump()?;
        if self.tok != Tok::LParen {
            return Err(self.err(format!(
                "expected `(` after {canon}, found {}",
                self.tok.describe()
            )));
        }
        let open = self.tok_pos;
        self.bump()?;
        let mut args = Vec::new();
        loop {
            match std::mem::replace(&mut self.tok, Tok::Eof) {
                Tok::RParen => break,
                Tok::Str(value) => {
                    args.push(Arg {
                        value,
                        pos: self.tok_pos,
                    });
                    self.bump()?;
                    match self.tok {
                        Tok::Comma => self.bump()?,
                        Tok::RParen => {}
                        Tok::Eof => {
                            return Err(err_at(
                                self.src(),
                                open,
                                "unbalanced parentheses: this `(` is never closed",
                            ))
                        }
                        ref t => {
                            return Err(
                                self.err(format!("expected `,` or `)`, found {}", t.describe()))
                            )
                        }
                    }
                }
                Tok::Eof => {
                    return Err(err_at(
                        self.src(),
                        open,
                        "unbalanced parentheses: this `(` is never closed",
                    ))
                }
                t => {
                    return Err(self.err(format!(
                        "expected a quoted string argument (`...` or \"...\"), found {}",
                        t.describe()
                    )))
                }
            }
        }
        let call = Call {
            src: self.src(),
            name: canon,
            name_pos,
            args,
        };
        if let Name::Other(_) = resolved {
            return Err(other_syntax_error(&call, self.syntax));
        }
        let m = match self.syntax {
            RuleSyntax::V3 => matcher::build_v3(&call)?,
            RuleSyntax::V2 => v2::build_v2(&call)?,
        };
        self.bump()?;
        Ok(Expr::Leaf(m))
    }
}

/// `a && (b && c)` is `a && b && c`: flattening keeps the tree canonical, so printing and
/// parsing again gives an equal rule.
fn push_flat(items: &mut Vec<Expr>, e: Expr, or: bool) {
    match e {
        Expr::Or(inner) if or => items.extend(inner),
        Expr::And(inner) if !or => items.extend(inner),
        e => items.push(e),
    }
}

/// The canonical name `name` spells: as written, all lower case, all upper case, or title case
/// as Go's `cases.Title` on the lower-cased name (`Hostregexp`). Compared byte by byte: this
/// runs for every matcher of every rule at every compile, and allocating the three spellings
/// of each candidate cost about a third of parsing a 10,000-router configuration.
fn lookup(name: &str, names: &[&'static str]) -> Option<&'static str> {
    let n = name.as_bytes();
    names.iter().copied().find(|canon| {
        let c = canon.as_bytes();
        let spelled = |case: fn(usize, u8) -> u8| {
            n.iter()
                .zip(c)
                .enumerate()
                .all(|(i, (a, b))| *a == case(i, *b))
        };
        n.len() == c.len()
            && (n == c
                || spelled(|_, b| b.to_ascii_lowercase())
                || spelled(|_, b| b.to_ascii_uppercase())
                || spelled(|i, b| {
                    if i == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        b.to_ascii_lowercase()
                    }
                }))
    })
}

/// A matcher name: one of this syntax, or one that only the other syntax knows (reported once
/// its arguments are read, so the hint can show them).
enum Name {
    Own(&'static str),
    Other(&'static str),
}

fn resolve_name(src: &str, name: &str, pos: usize, syntax: RuleSyntax) -> Result<Name, RuleError> {
    let (names, other) = match syntax {
        RuleSyntax::V3 => (V3_NAMES, V2_NAMES),
        RuleSyntax::V2 => (V2_NAMES, V3_NAMES),
    };
    if let Some(canon) = lookup(name, names) {
        return Ok(Name::Own(canon));
    }
    if let Some(canon) = lookup(name, other) {
        return Ok(Name::Other(canon));
    }
    let lower = name.to_ascii_lowercase();
    let best = names
        .iter()
        .map(|canon| {
            (
                strsim::damerau_levenshtein(&lower, &canon.to_ascii_lowercase()),
                *canon,
            )
        })
        .min();
    let mut message = format!("unknown matcher `{name}`");
    match best {
        Some((dist, canon)) if dist <= (name.len() / 3).max(1) => {
            message.push_str(&format!("; did you mean {canon}?"));
        }
        _ => message.push_str(&format!("; known matchers: {}", names.join(", "))),
    }
    Err(err_at(src, pos, message))
}

/// A matcher of the other syntax: say so, and for v2 names under v3 show the v3 form.
fn other_syntax_error(call: &Call<'_>, syntax: RuleSyntax) -> RuleError {
    let q = |a: &Arg| super::matcher::quoted(&a.value);
    let hint = match (syntax, call.name) {
        (RuleSyntax::V2, _) => "; set `ruleSyntax: v3` on the router to use it".to_string(),
        (RuleSyntax::V3, "Headers" | "HeadersRegexp") if !call.args.is_empty() => {
            let v3 = if call.name == "Headers" {
                "Header"
            } else {
                "HeaderRegexp"
            };
            let parts: Vec<String> = call
                .args
                .chunks(2)
                .map(|c| match c {
                    [n, v] => format!("{v3}({}, {})", q(n), q(v)),
                    [n, ..] => format!("{v3}({}, `...`)", q(n)),
                    [] => String::new(),
                })
                .collect();
            format!("; write {}", parts.join(" && "))
        }
        (RuleSyntax::V3, "HostHeader") if !call.args.is_empty() => {
            let parts: Vec<String> = call
                .args
                .iter()
                .map(|a| format!("Host({})", q(a)))
                .collect();
            format!("; write {}", parts.join(" || "))
        }
        _ => String::new(),
    };
    let label = match syntax {
        RuleSyntax::V3 => "v2",
        RuleSyntax::V2 => "v3",
    };
    call.err_name(format!("{} is a {label}-syntax matcher{hint}", call.name))
}
