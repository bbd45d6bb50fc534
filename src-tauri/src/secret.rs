//! A manager token: a type that does not print.
//!
//! `Debug` and `Display` show `***`, there is no `Serialize`, and the only way
//! to read it is [`Token::expose`], which call sites use to hand it to the
//! keyring or the HTTP client. That keeps it out of logs, errors, the config
//! file and the cache by construction.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Trims surrounding whitespace (a pasted token often has a newline).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let t = raw.trim();
        if t.is_empty() {
            return Err("Enter the manager token you were given.");
        }
        if t.len() > 4096 || t.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("That does not look like a manager token: it must be one line without spaces.");
        }
        Ok(Self(t.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let t = Token::parse(" tgm_secret123 \n").unwrap();
        assert_eq!(t.expose(), "tgm_secret123");
        assert_eq!(format!("{t} {t:?}"), "*** Token(***)");
    }

    #[test]
    fn refuses_empty_and_multiline() {
        assert!(Token::parse("  ").is_err());
        assert!(Token::parse("a b").is_err());
    }
}
