//! Salary-component formulas: `+ - * /`, parentheses, unary minus, decimal literals and named
//! inputs (`base * days_worked / days_in_period`). A formula is parsed and checked when its
//! component is saved (an unknown name or a division by a constant zero is refused then), and
//! evaluated per slip in fixed point (six decimals, i128): no floating point anywhere.

use super::money::{parse_decimal, round_div};
use super::FinanceViolation;

/// Fixed-point scale of every intermediate value: 10^6.
pub const SCALE: i128 = 1_000_000;

/// The longest formula accepted (characters).
const MAX_LEN: usize = 500;

/// A parsed formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal, scaled by [`SCALE`].
    Number(i128),
    Input(String),
    Neg(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Why a formula could not be evaluated for one slip (reported on the run, never a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    DivisionByZero,
    Overflow,
    /// An input the slip does not provide (a structure checked at save time never hits this).
    Missing(String),
}

impl Expr {
    /// Parses and checks `text`: every name must be in `known`, no divisor may be a constant
    /// zero.
    pub fn parse(text: &str, known: &dyn Fn(&str) -> bool) -> Result<Expr, FinanceViolation> {
        if text.trim().is_empty() || text.chars().count() > MAX_LEN {
            return Err(FinanceViolation::FormulaSyntax(
                "a formula has 1 to 500 characters".into(),
            ));
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, at: 0 };
        let expr = parser.expr()?;
        if parser.at != parser.tokens.len() {
            return Err(FinanceViolation::FormulaSyntax(format!(
                "unexpected `{}`",
                parser.tokens[parser.at]
            )));
        }
        let mut unknown = Vec::new();
        expr.walk(&mut |node| {
            if let Expr::Input(name) = node {
                if !known(name) && !unknown.contains(name) {
                    unknown.push(name.clone());
                }
            }
        });
        if let Some(name) = unknown.into_iter().next() {
            return Err(FinanceViolation::UnknownFormulaInput(name));
        }
        expr.check_divisors()?;
        Ok(expr)
    }

    /// Every name the formula reads.
    pub fn inputs(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.walk(&mut |node| {
            if let Expr::Input(name) = node {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        });
        names
    }

    fn walk(&self, visit: &mut dyn FnMut(&Expr)) {
        visit(self);
        match self {
            Expr::Neg(inner) => inner.walk(visit),
            Expr::Binary(left, _, right) => {
                left.walk(visit);
                right.walk(visit);
            }
            Expr::Number(_) | Expr::Input(_) => {}
        }
    }

    /// A divisor that folds to a constant zero is refused at save time.
    fn check_divisors(&self) -> Result<(), FinanceViolation> {
        match self {
            Expr::Binary(left, op, right) => {
                left.check_divisors()?;
                right.check_divisors()?;
                if *op == Op::Div && right.constant() == Some(0) {
                    return Err(FinanceViolation::FormulaDivisionByZero);
                }
                Ok(())
            }
            Expr::Neg(inner) => inner.check_divisors(),
            Expr::Number(_) | Expr::Input(_) => Ok(()),
        }
    }

    /// The value of an input-free expression (None when it reads an input or cannot fold).
    fn constant(&self) -> Option<i128> {
        self.eval(&|_| None).ok()
    }

    /// Evaluates with `input` giving each name's value scaled by [`SCALE`].
    pub fn eval(&self, input: &dyn Fn(&str) -> Option<i128>) -> Result<i128, EvalError> {
        match self {
            Expr::Number(value) => Ok(*value),
            Expr::Input(name) => input(name).ok_or_else(|| EvalError::Missing(name.clone())),
            Expr::Neg(inner) => inner.eval(input)?.checked_neg().ok_or(EvalError::Overflow),
            Expr::Binary(left, op, right) => {
                let a = left.eval(input)?;
                let b = right.eval(input)?;
                let value = match op {
                    Op::Add => a.checked_add(b),
                    Op::Sub => a.checked_sub(b),
                    Op::Mul => a.checked_mul(b).map(|product| round_signed(product, SCALE)),
                    Op::Div => {
                        if b == 0 {
                            return Err(EvalError::DivisionByZero);
                        }
                        a.checked_mul(SCALE).map(|scaled| round_signed(scaled, b))
                    }
                };
                let value = value.ok_or(EvalError::Overflow)?;
                // Far beyond any salary: stops a runaway formula before i128 does.
                if value.abs() > 10i128.pow(30) {
                    return Err(EvalError::Overflow);
                }
                Ok(value)
            }
        }
    }
}

/// `numerator / denominator` rounded half away from zero, for a denominator of either sign.
fn round_signed(numerator: i128, denominator: i128) -> i128 {
    if denominator < 0 {
        round_div(-numerator, -denominator)
    } else {
        round_div(numerator, denominator)
    }
}

/// A scaled value rounded to whole minor units.
pub fn to_minor(scaled: i128) -> Option<i64> {
    i64::try_from(round_div(scaled, SCALE)).ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Number(i128),
    Name(String),
    Symbol(char),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Number(value) => write!(f, "{}", value / SCALE),
            Token::Name(name) => write!(f, "{name}"),
            Token::Symbol(symbol) => write!(f, "{symbol}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, FinanceViolation> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
        } else if c.is_ascii_digit() {
            let start = at;
            while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.') {
                at += 1;
            }
            let literal: String = chars[start..at].iter().collect();
            let value = parse_decimal(&literal, 6, "formula").map_err(|_| {
                FinanceViolation::FormulaSyntax(format!(
                    "`{literal}` is not a number with at most 6 decimals"
                ))
            })?;
            tokens.push(Token::Number(i128::from(value)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = at;
            while at < chars.len() && (chars[at].is_ascii_alphanumeric() || chars[at] == '_') {
                at += 1;
            }
            tokens.push(Token::Name(chars[start..at].iter().collect()));
        } else if matches!(c, '+' | '-' | '*' | '/' | '(' | ')') {
            tokens.push(Token::Symbol(c));
            at += 1;
        } else {
            return Err(FinanceViolation::FormulaSyntax(format!(
                "`{c}` is not allowed in a formula"
            )));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn symbol(&mut self, wanted: char) -> bool {
        if self.peek() == Some(&Token::Symbol(wanted)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Expr, FinanceViolation> {
        let mut left = self.term()?;
        loop {
            let op = if self.symbol('+') {
                Op::Add
            } else if self.symbol('-') {
                Op::Sub
            } else {
                return Ok(left);
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Expr, FinanceViolation> {
        let mut left = self.factor()?;
        loop {
            let op = if self.symbol('*') {
                Op::Mul
            } else if self.symbol('/') {
                Op::Div
            } else {
                return Ok(left);
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.factor()?));
        }
    }

    fn factor(&mut self) -> Result<Expr, FinanceViolation> {
        // Nesting is bounded by the formula's length (500 characters).
        if self.symbol('-') {
            return Ok(Expr::Neg(Box::new(self.factor()?)));
        }
        if self.symbol('(') {
            let inner = self.expr()?;
            if !self.symbol(')') {
                return Err(FinanceViolation::FormulaSyntax(
                    "a `(` is not closed".into(),
                ));
            }
            return Ok(inner);
        }
        match self.tokens.get(self.at).cloned() {
            Some(Token::Number(value)) => {
                self.at += 1;
                Ok(Expr::Number(value))
            }
            Some(Token::Name(name)) => {
                self.at += 1;
                Ok(Expr::Input(name))
            }
            Some(other) => Err(FinanceViolation::FormulaSyntax(format!(
                "unexpected `{other}`"
            ))),
            None => Err(FinanceViolation::FormulaSyntax(
                "the formula ends too early".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> bool {
        matches!(name, "base" | "days_worked" | "days_in_period" | "lwp_days")
    }

    fn value(text: &str, inputs: &[(&str, i128)]) -> Result<i128, EvalError> {
        let expr = Expr::parse(text, &known).unwrap();
        expr.eval(&|name| {
            inputs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v * SCALE)
        })
    }

    #[test]
    fn prorates_in_fixed_point() {
        // 3000.00 EUR base (300000 minor) for 20 of 22 days: 272727.2727... -> 272727.
        let scaled = value(
            "base * days_worked / days_in_period",
            &[
                ("base", 300_000),
                ("days_worked", 20),
                ("days_in_period", 22),
            ],
        )
        .unwrap();
        assert_eq!(to_minor(scaled), Some(272_727));
        assert_eq!(
            to_minor(value("(base - 100) * 0.5 + -2", &[("base", 1000)]).unwrap()),
            Some(448)
        );
    }

    #[test]
    fn unknown_names_and_constant_zero_divisors_are_refused_at_save() {
        assert_eq!(
            Expr::parse("base * bonus_days", &known),
            Err(FinanceViolation::UnknownFormulaInput("bonus_days".into()))
        );
        assert_eq!(
            Expr::parse("base / (2 - 2)", &known),
            Err(FinanceViolation::FormulaDivisionByZero)
        );
        assert_eq!(
            Expr::parse("base / 0", &known),
            Err(FinanceViolation::FormulaDivisionByZero)
        );
        assert!(matches!(
            Expr::parse("base * (2", &known),
            Err(FinanceViolation::FormulaSyntax(_))
        ));
        assert!(matches!(
            Expr::parse("base ^ 2", &known),
            Err(FinanceViolation::FormulaSyntax(_))
        ));
        assert!(matches!(
            Expr::parse("base 2", &known),
            Err(FinanceViolation::FormulaSyntax(_))
        ));
    }

    #[test]
    fn a_zero_input_divisor_fails_the_slip_not_the_save() {
        assert_eq!(
            value("base / lwp_days", &[("base", 100), ("lwp_days", 0)]),
            Err(EvalError::DivisionByZero)
        );
    }
}
