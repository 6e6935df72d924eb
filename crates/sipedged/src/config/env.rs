//! Environment variables in the configuration file: `${NAME}` and `${NAME:-default}` are replaced by the
//! variable's value when the file is read, before it is parsed as TOML, so that one file (one Kubernetes
//! ConfigMap) serves many nodes, each with its own `node_id` and addresses.
//!
//! The replacement knows where in the TOML document it is, so that a value can never add TOML structure:
//!
//! - inside a basic string (`"..."` or `"""..."""`, keys included) the value is escaped (`\\`, `\"`, control
//!   characters as `\uXXXX`) and stays one string;
//! - outside strings (an integer or boolean position such as `node_id = ${NODE_ID}`) the value must be one
//!   integer, float or boolean token (digits, letters, `+ - . _`; no space, no `#`), else the file is refused;
//! - literal strings (`'...'`, `'''...'''`) and comments are taken as written: nothing in them is replaced.
//!
//! Expansion happens once: a value is copied into the output and never scanned again, so a value holding `${X}`
//! stays those characters. `$$` is a literal `$` where expansion happens; a `$` followed by anything else than
//! `{` or `$` is kept as it is. A value never contains a line break in the output (it is escaped, or refused
//! outside strings), so the TOML parser's line numbers are the file's.
//!
//! A hand-written scanner rather than a general template crate: the expansion must follow TOML's string rules to
//! keep each value inside the one TOML value it was written in.

use std::env::VarError;

/// Why the variables of a configuration file cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A variable without a default is not set.
    #[error(
        "line {line}: environment variable {name} is not set (set it, or give a default: ${{{name}:-VALUE}})"
    )]
    Unset {
        /// Its name.
        name: String,
        /// The line of the file it is used on.
        line: usize,
    },
    /// A variable's value is not valid Unicode.
    #[error("line {line}: environment variable {name} is not valid Unicode")]
    NotUnicode {
        /// Its name.
        name: String,
        /// The line.
        line: usize,
    },
    /// Outside a string, a value that is not one integer, float or boolean.
    #[error(
        "line {line}: ${{{name}}} is outside a string, so its value must be one integer, float or boolean, \
         not {value:?} (put it in double quotes for a string)"
    )]
    NotScalar {
        /// The variable's name.
        name: String,
        /// The line.
        line: usize,
        /// The value refused.
        value: String,
    },
    /// A malformed `${...}`.
    #[error("line {line}: {reason}")]
    Syntax {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Where in the TOML document the scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// Outside strings and comments: keys, values, headers.
    Bare,
    /// After `#`, to the end of the line.
    Comment,
    /// `"..."`.
    Basic,
    /// `"""..."""`.
    MultiBasic,
    /// `'...'`.
    Literal,
    /// `'''...'''`.
    MultiLiteral,
}

/// Expand the variables of `text` (a TOML document) as the module says, with the process's environment.
pub fn expand_env(text: &str) -> Result<String, EnvError> {
    expand(text, |name| std::env::var(name))
}

/// Expand the variables of `text`, looking each up with `lookup` (as [`std::env::var`] answers).
pub fn expand(
    text: &str,
    lookup: impl Fn(&str) -> Result<String, VarError>,
) -> Result<String, EnvError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut scan = Scanner {
        text,
        bytes: text.as_bytes(),
        out: String::with_capacity(text.len()),
        i: 0,
        copied: 0,
        line: 1,
        context: Context::Bare,
    };
    while scan.i < scan.bytes.len() {
        scan.step(&lookup)?;
    }
    scan.flush(scan.bytes.len());
    Ok(scan.out)
}

/// The scanner's state: `out` holds `text[..copied]` expanded; `text[copied..i]` is still to copy as it is.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    out: String,
    i: usize,
    copied: usize,
    line: usize,
    context: Context,
}

impl Scanner<'_> {
    /// Copy the text up to `end` as it is.
    fn flush(&mut self, end: usize) {
        self.out.push_str(&self.text[self.copied..end]);
        self.copied = end;
    }

    fn at(&self, pattern: &[u8]) -> bool {
        self.bytes[self.i..].starts_with(pattern)
    }

    /// Move past `n` bytes, counting lines.
    fn advance(&mut self, n: usize) {
        let end = (self.i + n).min(self.bytes.len());
        self.line += self.bytes[self.i..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.i = end;
    }

    /// Move past a closing `"""` / `'''` and up to two more quotes (TOML allows `""""` and `"""""` to end a
    /// multi-line string with quotes in it).
    fn close_multi(&mut self, quote: u8) {
        let run = self.bytes[self.i..]
            .iter()
            .take(5)
            .take_while(|&&b| b == quote)
            .count();
        self.advance(run);
        self.context = Context::Bare;
    }

    /// One step of the scan: a delimiter, an escape, a `$`, or one plain byte.
    fn step(&mut self, lookup: &impl Fn(&str) -> Result<String, VarError>) -> Result<(), EnvError> {
        use Context::*;
        let b = self.bytes[self.i];
        match (self.context, b) {
            (Bare | Basic | MultiBasic, b'$') => return self.dollar(lookup),
            (Bare, b'#') => self.context = Comment,
            (Bare, b'"') if self.at(b"\"\"\"") => {
                self.context = MultiBasic;
                self.advance(3);
                return Ok(());
            }
            (Bare, b'"') => self.context = Basic,
            (Bare, b'\'') if self.at(b"'''") => {
                self.context = MultiLiteral;
                self.advance(3);
                return Ok(());
            }
            (Bare, b'\'') => self.context = Literal,
            (Basic | MultiBasic, b'\\') => {
                self.advance(2);
                return Ok(());
            }
            (Basic, b'"') | (Literal, b'\'') => self.context = Bare,
            (MultiBasic, b'"') if self.at(b"\"\"\"") => {
                self.close_multi(b'"');
                return Ok(());
            }
            (MultiLiteral, b'\'') if self.at(b"'''") => {
                self.close_multi(b'\'');
                return Ok(());
            }
            // A line ends a comment; in a one-line string it is a TOML error the parser reports.
            (Comment | Basic | Literal, b'\n') => self.context = Bare,
            _ => {}
        }
        self.advance(1);
        Ok(())
    }

    /// At a `$` where expansion happens: `$$`, `${NAME}`, `${NAME:-default}`, or a plain `$`.
    fn dollar(
        &mut self,
        lookup: &impl Fn(&str) -> Result<String, VarError>,
    ) -> Result<(), EnvError> {
        if self.at(b"$$") {
            self.flush(self.i);
            self.out.push('$');
            self.advance(2);
            self.copied = self.i;
            return Ok(());
        }
        if !self.at(b"${") {
            self.advance(1);
            return Ok(());
        }
        let start = self.i + 2;
        let Some(len) = self.text[start..].find(['}', '\n']) else {
            return Err(self.syntax("`${` without a closing `}`".into()));
        };
        let inner = &self.text[start..start + len];
        if self.bytes[start + len] != b'}' {
            return Err(self.syntax("`${` without a closing `}` on its line".into()));
        }
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        check_name(name).map_err(|reason| self.syntax(reason))?;
        if let Some(d) = default.filter(|d| d.contains(['"', '\'', '\\'])) {
            return Err(self.syntax(format!(
                "the default of ${{{name}}} ({d:?}) may not contain quotes or backslashes"
            )));
        }
        let value = self.value(name, default, lookup)?;
        self.flush(self.i);
        match self.context {
            Context::Bare => {
                if !is_scalar(&value) {
                    return Err(EnvError::NotScalar {
                        name: name.into(),
                        line: self.line,
                        value,
                    });
                }
                self.out.push_str(&value);
            }
            _ => escape_basic(&value, &mut self.out),
        }
        self.advance(len + 3);
        self.copied = self.i;
        Ok(())
    }

    /// The value of `name`: its value when set and not empty, else `default` when given; set but empty without
    /// a default is empty; unset without a default is an error.
    fn value(
        &self,
        name: &str,
        default: Option<&str>,
        lookup: &impl Fn(&str) -> Result<String, VarError>,
    ) -> Result<String, EnvError> {
        match (lookup(name), default) {
            (Ok(v), Some(d)) if v.is_empty() => Ok(d.to_owned()),
            (Ok(v), _) => Ok(v),
            (Err(VarError::NotPresent), Some(d)) => Ok(d.to_owned()),
            (Err(VarError::NotPresent), None) => Err(EnvError::Unset {
                name: name.into(),
                line: self.line,
            }),
            (Err(VarError::NotUnicode(_)), _) => Err(EnvError::NotUnicode {
                name: name.into(),
                line: self.line,
            }),
        }
    }

    fn syntax(&self, reason: String) -> EnvError {
        EnvError::Syntax {
            line: self.line,
            reason,
        }
    }
}

/// A variable name: a letter or `_`, then letters, digits and `_`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "${{{name}}}: a variable name is letters, digits and _, not starting with a digit"
        ))
    }
}

/// Whether `value` is one TOML integer, float or boolean token, and nothing else.
fn is_scalar(value: &str) -> bool {
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
    {
        return false;
    }
    toml::from_str::<toml::Table>(&format!("v = {value}")).is_ok_and(|t| {
        t.len() == 1
            && matches!(
                t.get("v"),
                Some(toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_))
            )
    })
}

/// `value` as the inside of a TOML basic string.
fn escape_basic(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
