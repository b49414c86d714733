//! The small predicate language of CircuitBreaker `expression` and Buffering `retryExpression`
//! (Traefik's vulcand/predicate): function calls, comparisons with numbers, `&&`, `||`, `!` and
//! parentheses. Parsed at compile time so a typo disables the middleware with its column.

/// A function the language knows: its name, its argument count, and whether it is a number
/// (compared with an operator) or a condition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FuncSig {
    pub name: &'static str,
    pub args: usize,
    pub numeric: bool,
}

/// CircuitBreaker's functions.
pub const CIRCUIT_BREAKER: &[FuncSig] = &[
    FuncSig {
        name: "NetworkErrorRatio",
        args: 0,
        numeric: true,
    },
    FuncSig {
        name: "ResponseCodeRatio",
        args: 4,
        numeric: true,
    },
    FuncSig {
        name: "LatencyAtQuantileMS",
        args: 1,
        numeric: true,
    },
];

/// Buffering `retryExpression`'s functions.
pub const BUFFERING_RETRY: &[FuncSig] = &[
    FuncSig {
        name: "Attempts",
        args: 0,
        numeric: true,
    },
    FuncSig {
        name: "ResponseCode",
        args: 0,
        numeric: true,
    },
    FuncSig {
        name: "IsNetworkError",
        args: 0,
        numeric: false,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// A condition function (`IsNetworkError()`).
    Cond {
        func: &'static str,
        args: Vec<f64>,
    },
    /// `func(args) op value`.
    Cmp {
        func: &'static str,
        args: Vec<f64>,
        op: CmpOp,
        value: f64,
    },
}

/// Parses `src` against the function table; errors carry the 1-based column.
pub fn parse(src: &str, funcs: &'static [FuncSig]) -> Result<Expr, String> {
    let mut p = Parser {
        s: src.as_bytes(),
        i: 0,
        funcs,
    };
    let e = p.or()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text"));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    funcs: &'static [FuncSig],
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("{what} at column {}", self.i + 1)
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.eat("||") {
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        while self.eat("&&") {
            l = Expr::And(Box::new(l), Box::new(self.unary()?));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                return Err(self.err("expected `)`"));
            }
            return Ok(e);
        }
        self.call()
    }
    fn number(&mut self) -> Result<f64, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_digit() || b".-+eE".contains(&self.s[self.i]))
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or_else(|| {
                self.i = start;
                self.err("expected a number")
            })
    }
    fn call(&mut self) -> Result<Expr, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        let name = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if name.is_empty() {
            return Err(self.err("expected a function call"));
        }
        let Some(sig) = self.funcs.iter().find(|f| f.name == name) else {
            self.i = start;
            let known: Vec<_> = self.funcs.iter().map(|f| format!("{}()", f.name)).collect();
            return Err(self.err(&format!(
                "unknown function `{name}` (known: {})",
                known.join(", ")
            )));
        };
        if !self.eat("(") {
            return Err(self.err("expected `(`"));
        }
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                args.push(self.number()?);
                if self.eat(")") {
                    break;
                }
                if !self.eat(",") {
                    return Err(self.err("expected `,` or `)`"));
                }
            }
        }
        if args.len() != sig.args {
            return Err(format!(
                "{}() takes {} argument(s), got {}",
                sig.name,
                sig.args,
                args.len()
            ));
        }
        let op = [
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.eat(t))
        .map(|(_, op)| op);
        match (op, sig.numeric) {
            (Some(op), true) => Ok(Expr::Cmp {
                func: sig.name,
                args,
                op,
                value: self.number()?,
            }),
            (None, false) => Ok(Expr::Cond {
                func: sig.name,
                args,
            }),
            (Some(_), false) => Err(self.err(&format!(
                "{}() is a condition and cannot be compared",
                sig.name
            ))),
            (None, true) => Err(self.err(&format!(
                "{}() is a number: compare it (e.g. `> 0.5`)",
                sig.name
            ))),
        }
    }
}

/// Numbers the functions of an expression read.
pub trait Metrics {
    /// `name(args)` for a numeric function.
    fn number(&self, name: &str, args: &[f64]) -> f64;
    /// `name(args)` for a condition function.
    fn condition(&self, name: &str, args: &[f64]) -> bool;
}

impl Expr {
    pub fn eval(&self, m: &dyn Metrics) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(m) || b.eval(m),
            Expr::And(a, b) => a.eval(m) && b.eval(m),
            Expr::Not(e) => !e.eval(m),
            Expr::Cond { func, args } => m.condition(func, args),
            Expr::Cmp {
                func,
                args,
                op,
                value,
            } => {
                let v = m.number(func, args);
                match op {
                    CmpOp::Lt => v < *value,
                    CmpOp::Le => v <= *value,
                    CmpOp::Gt => v > *value,
                    CmpOp::Ge => v >= *value,
                    CmpOp::Eq => v == *value,
                    CmpOp::Ne => v != *value,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_traefik_examples() {
        for e in [
            "NetworkErrorRatio() > 0.5",
            "ResponseCodeRatio(500, 600, 0, 600) > 0.25",
            "LatencyAtQuantileMS(50.0) > 100",
            "ResponseCodeRatio(500, 600, 0, 600) > 0.30 || NetworkErrorRatio() > 0.10",
            "(LatencyAtQuantileMS(50.0) > 100 && NetworkErrorRatio() > 0.1) || !(NetworkErrorRatio() < 0.5)",
        ] {
            parse(e, CIRCUIT_BREAKER).unwrap_or_else(|err| panic!("{e}: {err}"));
        }
        parse("IsNetworkError() && Attempts() < 2", BUFFERING_RETRY).unwrap();
    }

    #[test]
    fn errors_point_at_columns() {
        assert_eq!(
            parse("NetworkErrorRatio() > ", CIRCUIT_BREAKER).unwrap_err(),
            "expected a number at column 23"
        );
        assert!(parse("Foo() > 1", CIRCUIT_BREAKER)
            .unwrap_err()
            .starts_with("unknown function `Foo`"));
        assert!(parse("NetworkErrorRatio()", CIRCUIT_BREAKER)
            .unwrap_err()
            .contains("is a number"));
        assert!(parse("ResponseCodeRatio(1) > 0", CIRCUIT_BREAKER)
            .unwrap_err()
            .contains("takes 4"));
        assert!(parse("NetworkErrorRatio() > 1 &&", CIRCUIT_BREAKER).is_err());
    }
}
