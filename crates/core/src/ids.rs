//! Opaque identifiers chosen by the product, and the manager's reason.
//!
//! Parse, don't validate: a `ContractId` or `UserId` can only hold 1–64
//! characters of `[A-Za-z0-9._-]`, a `Reason` 1–500 characters.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be 1 to 64 characters")]
    Length,
    #[error("may contain only letters, digits, '.', '_' and '-'")]
    Charset,
}

fn check_id(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() || raw.len() > 64 {
        return Err(IdError::Length);
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(IdError::Charset);
    }
    Ok(())
}

/// A contract's id, e.g. `C-10042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContractId(String);

/// A user's id, e.g. `u-7781`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl ContractId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        check_id(raw).map(|()| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        check_id(raw).map(|()| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an account manager acted: 1–500 characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reason of 1 to 500 characters is required")]
pub struct ReasonError;

impl Reason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, ReasonError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ReasonError);
        }
        Ok(Self(trimmed.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: one `@`, a non-empty local part and a dotted domain,
/// no whitespace or control characters, at most 254 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not an email address")]
pub struct EmailError;

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        if raw.len() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError);
        }
        let (local, domain) = raw.split_once('@').ok_or(EmailError)?;
        let domain_ok =
            domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@');
        if local.is_empty() || !domain_ok {
            return Err(EmailError);
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_documented_charset() {
        assert!(ContractId::parse("C-10042").is_ok());
        assert!(UserId::parse("u.77_81-x").is_ok());
        assert!(UserId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn ids_refuse_empty_long_and_foreign_characters() {
        assert_eq!(UserId::parse(""), Err(IdError::Length));
        assert_eq!(UserId::parse(&"a".repeat(65)), Err(IdError::Length));
        assert_eq!(ContractId::parse("C 1"), Err(IdError::Charset));
        assert_eq!(ContractId::parse("C/1"), Err(IdError::Charset));
        assert_eq!(ContractId::parse("Ç1"), Err(IdError::Charset));
    }

    #[test]
    fn reason_is_one_to_five_hundred_chars() {
        assert!(Reason::parse("lost phone").is_ok());
        assert_eq!(Reason::parse("   "), Err(ReasonError));
        assert_eq!(Reason::parse(""), Err(ReasonError));
        assert!(Reason::parse(&"é".repeat(500)).is_ok());
        assert_eq!(Reason::parse(&"x".repeat(501)), Err(ReasonError));
    }

    #[test]
    fn email_needs_local_part_and_dotted_domain() {
        assert!(EmailAddress::parse("ann@example.com").is_ok());
        assert_eq!(EmailAddress::parse("ann@example"), Err(EmailError));
        assert_eq!(EmailAddress::parse("@example.com"), Err(EmailError));
        assert_eq!(EmailAddress::parse("ann example@x.com"), Err(EmailError));
        assert_eq!(EmailAddress::parse("ann"), Err(EmailError));
    }
}
