//! The words users receive. SMS bodies carry the code as the only run of
//! digits of its length; emails say what changed, when, from where, and
//! what to do if it was not the user.

use crate::config::Config;
use crate::service::Actor;
use crate::store::users::UserRow;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;
use tollgate_core::purpose::Purpose;

pub fn sms_body(purpose: Purpose, code: &str, ttl_minutes: i64) -> String {
    let what = match purpose {
        Purpose::LoginCode => "sign-in code",
        Purpose::EnableCode => "code to turn on two-factor authentication",
        Purpose::PhoneChangeCurrentCode => "code to change your two-factor phone (current phone)",
        Purpose::PhoneChangeNewCode => "code to confirm your new two-factor phone",
        Purpose::DisableCode => "code to turn off two-factor authentication",
        _ => "verification code",
    };
    format!("Your {what} is {code}. It expires in {ttl_minutes} minutes. Never share it with anyone.")
}

fn when(at: OffsetDateTime) -> String {
    at.format(&Rfc2822).unwrap_or_else(|_| at.to_string())
}

fn compose(config: &Config, user: &UserRow, what: &str, actor_line: &str, at: OffsetDateTime) -> String {
    format!(
        "Hello {name},\n\n{what}\n\nWhen: {when}\n{actor_line}\n\n\
         If this was you, there is nothing to do.\n\
         If it was not you, contact {contact} right away and do not share any code \
         you receive: someone may be trying to take over your account.\n\n\
         -- Tollgate security notifications\n",
        name = user.display_name,
        when = when(at),
        contact = config.email.support_contact,
    )
}

pub fn enabled(
    config: &Config,
    user: &UserRow,
    actor: &Actor,
    phone_masked: &str,
    at: OffsetDateTime,
) -> (String, String) {
    let what = format!(
        "Two-factor authentication was turned on for your account. Sign-in codes will be sent by SMS to {phone_masked}."
    );
    ("Two-factor authentication was turned on".into(), compose(config, user, &what, &actor.describe(), at))
}

pub fn phone_changed(
    config: &Config,
    user: &UserRow,
    actor: &Actor,
    old_masked: &str,
    new_masked: &str,
    at: OffsetDateTime,
) -> (String, String) {
    let what =
        format!("The phone number for your two-factor authentication was changed from {old_masked} to {new_masked}.");
    ("Your two-factor phone number was changed".into(), compose(config, user, &what, &actor.describe(), at))
}

pub fn disabled(config: &Config, user: &UserRow, actor: &Actor, at: OffsetDateTime) -> (String, String) {
    let what = "Two-factor authentication was turned off for your account. Sign-ins no longer need a code sent by SMS.";
    ("Two-factor authentication was turned off".into(), compose(config, user, what, &actor.describe(), at))
}

/// The reason the manager gave is not sent: it may hold internal notes
/// about the customer; it is kept in the audit log.
pub fn disabled_by_manager(config: &Config, user: &UserRow, at: OffsetDateTime) -> (String, String) {
    let what = "Your account manager turned off two-factor authentication for your account. \
                Sign-ins no longer need a code sent by SMS; you can turn it on again from your profile.";
    let actor = "Changed by: your account manager";
    ("Two-factor authentication was turned off by your account manager".into(), compose(config, user, what, actor, at))
}

pub fn account_locked(
    config: &Config,
    user: &UserRow,
    actor: &Actor,
    at: OffsetDateTime,
    until: OffsetDateTime,
) -> (String, String) {
    let what = format!(
        "Too many wrong sign-in codes were entered for your account, so it is locked until {}. \
         Codes cannot be used until then.",
        when(until)
    );
    ("Your account was locked after too many wrong codes".into(), compose(config, user, &what, &actor.describe(), at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_body_has_the_code_as_its_only_six_digit_run() {
        for purpose in Purpose::ALL {
            let body = sms_body(purpose, "042917", 10);
            let runs: Vec<&str> = body.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() >= 6).collect();
            assert_eq!(runs, vec!["042917"], "{body}");
        }
    }
}
