//! Masking for display: a phone number or email address is never shown
//! whole outside the code that sends to it.

/// `+447400123456` → `+44•••••••456`: the country calling code and the last
/// three digits, one bullet per hidden digit.
pub fn mask_phone(country_code: u16, national_digits: &str) -> String {
    let digits: Vec<char> = national_digits.chars().collect();
    let keep = digits.len().min(3);
    let hidden = digits.len() - keep;
    let tail: String = digits[hidden..].iter().collect();
    format!("+{country_code}{}{tail}", "•".repeat(hidden))
}

/// `ann.smith@example.com` → `a•••@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_mask_keeps_country_code_and_last_three() {
        assert_eq!(mask_phone(44, "7400123456"), "+44•••••••456");
        assert_eq!(mask_phone(1, "12"), "+112");
    }

    #[test]
    fn email_mask_keeps_first_letter_and_domain() {
        assert_eq!(mask_email("ann.smith@example.com"), "a•••@example.com");
        assert_eq!(mask_email("nonsense"), "•••");
    }
}
