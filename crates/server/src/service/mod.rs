//! The use cases of api.md, each one database transaction: what the routes
//! call. Shared here: who is acting, sending a code (with the per-number
//! limit), checking a code (with the per-code and per-account limits), and
//! queueing notifications in the same transaction as the change.

pub mod admin;
pub mod flows;
pub mod logins;
pub mod messages;
pub mod provision;
pub mod retention;

use crate::app::App;
use crate::clock::from_ms;
use crate::crypto::ordered_id;
use crate::error::{ApiError, ApiResult};
use crate::store::audit;
use crate::store::codes::{self, CodeOwner};
use crate::store::users::{self, UserRow};
use crate::store::writer::Event;
use crate::store::{outbox, Conn, Engine};
use serde_json::json;
use std::net::IpAddr;
use time::OffsetDateTime;
use tollgate_core::audit::ActorKind;
use tollgate_core::code::{CodeHash, OtpCode};
use tollgate_core::lockout::{AccountFailures, FailureOutcome};
use tollgate_core::phone::PhoneNumber;
use tollgate_core::purpose::Purpose;
use tollgate_core::send_limit::{RecentSends, RetryAfter};
use tollgate_core::verify::{CheckOutcome, CodeState};
use tollgate_proto::service::TwoFactorStatus;

/// Where a call on a user's behalf came from: for the audit and the email.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub ip: Option<String>,
    pub device_id: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    pub fn parse(ip: Option<&str>, device_id: Option<&str>, user_agent: Option<&str>) -> ApiResult<Self> {
        let ip = ip
            .map(|raw| {
                raw.trim()
                    .parse::<IpAddr>()
                    .map(|ip| ip.to_string())
                    .map_err(|_| ApiError::invalid(format!("ip: {raw:?} is not an IP address")))
            })
            .transpose()?;
        let device_id = device_id.map(|d| text_field("device_id", d, 200)).transpose()?;
        let user_agent = user_agent.map(|u| text_field("user_agent", u, 512)).transpose()?;
        Ok(Self { ip, device_id, user_agent })
    }

    /// "203.0.113.9, Firefox on Linux (device d-1)" for emails.
    pub fn describe(&self) -> String {
        let ip = self.ip.as_deref().unwrap_or("an unknown address");
        let mut out = format!("IP address: {ip}");
        if let Some(ua) = &self.user_agent {
            out.push_str(&format!("\nBrowser/app: {ua}"));
        }
        if let Some(device) = &self.device_id {
            out.push_str(&format!("\nDevice: {device}"));
        }
        out
    }

    pub fn detail(&self) -> serde_json::Value {
        json!({ "device_id": self.device_id, "user_agent": self.user_agent })
    }
}

/// A free-text field: trimmed, 1..=max characters, no control characters.
pub fn text_field(name: &str, raw: &str, max: usize) -> ApiResult<String> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!("{name}: must be 1 to {max} characters without control characters")));
    }
    Ok(value.to_owned())
}

/// A phone number ready to send to: whole (for the provider), masked, and
/// digested (for the per-number limit).
pub struct PhoneTarget {
    pub e164: String,
    pub masked: String,
    pub digest: String,
}

impl App {
    pub fn parse_phone(&self, raw: &str) -> ApiResult<PhoneTarget> {
        let phone = PhoneNumber::parse(raw).map_err(|e| ApiError::invalid_phone(format!("phone: {e}")))?;
        Ok(PhoneTarget {
            digest: self.keys.phone_digest(phone.e164()),
            e164: phone.e164().to_owned(),
            masked: phone.masked().to_owned(),
        })
    }

    /// The user's registered phone, unsealed for sending.
    pub fn current_phone(&self, user: &UserRow) -> ApiResult<PhoneTarget> {
        match (&user.phone_sealed, &user.phone_masked, &user.phone_digest) {
            (Some(sealed), Some(masked), Some(digest)) => {
                let e164 = self.keys.unseal(sealed).map_err(|e| {
                    tracing::error!(user = %user.id, error = %e, "cannot unseal a stored phone number");
                    ApiError::internal()
                })?;
                Ok(PhoneTarget { e164, masked: masked.clone(), digest: digest.clone() })
            }
            _ => Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                tollgate_proto::ErrorCode::TwoFactorNotEnabled,
                "two-factor authentication is not enabled for this user",
            )),
        }
    }

    /// `429 account_locked` while the user is locked out.
    pub fn ensure_unlocked(&self, user: &UserRow, now: OffsetDateTime) -> ApiResult<()> {
        match failures(user).locked_for(now) {
            Some(wait) => Err(ApiError::account_locked(RetryAfter(wait))),
            None => Ok(()),
        }
    }

    /// Sends a new code for `owner_id` to `phone`, if the number's send
    /// limit allows: records the send, queues the SMS. Returns the code's
    /// hash (hex) and expiry (ms).
    pub async fn send_code(
        &self,
        c: &mut Conn,
        user: &UserRow,
        owner_id: &str,
        purpose: Purpose,
        phone: &PhoneTarget,
        now: OffsetDateTime,
    ) -> ApiResult<(String, i64)> {
        let now_ms = crate::clock::to_ms(now);
        let since = crate::clock::to_ms(self.sends.window_start(now));
        // Count and record under the number's lock: concurrent sends to one
        // number (from any user, on any instance) cannot overshoot the limit.
        codes::lock_phone_sends(c, self.store.engine(), &phone.digest).await?;
        let (count, oldest) = codes::recent_sends(c, &phone.digest, since).await?;
        let recent = RecentSends { count: u32::try_from(count).unwrap_or(u32::MAX), oldest: oldest.map(from_ms) };
        self.sends.check(recent, now).map_err(ApiError::rate_limited)?;

        let code = OtpCode::generate(&mut rand::rngs::OsRng, self.codes.length);
        let hash = self.keys.code.hash(owner_id, &code).to_hex();
        let expires_at = self.codes.expiry(now);
        codes::record_send(c, &phone.digest, now_ms).await?;
        let body = messages::sms_body(purpose, code.reveal(), self.codes.ttl.whole_minutes());
        self.enqueue(c, user, purpose, &phone.e164, &phone.masked, None, &body, now_ms).await?;
        Ok((hash, crate::clock::to_ms(expires_at)))
    }

    /// Checks `code` against an owner's outstanding code. Wrong codes are
    /// counted (per code and per account) in `c`: the caller commits the
    /// transaction for `Rejected` too, then answers the error.
    #[allow(clippy::too_many_arguments)]
    pub async fn check_code(
        &self,
        c: &mut Conn,
        user: &UserRow,
        owner: CodeOwner,
        owner_id: &str,
        stored: (Option<&str>, Option<i64>, i64),
        code: &OtpCode,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> sqlx::Result<Result<(), ApiError>> {
        if let Err(locked) = self.ensure_unlocked(user, now) {
            return Ok(Err(locked));
        }
        let (Some(hash), Some(expires_at)) = (stored.0, stored.1) else {
            return Ok(Err(ApiError::flow_state("no code is outstanding for this step")));
        };
        let matches = CodeHash::from_hex(hash).is_some_and(|h| self.keys.code.verify(owner_id, code, &h));
        let state =
            CodeState { expires_at: from_ms(expires_at), wrong_attempts: u32::try_from(stored.2).unwrap_or(u32::MAX) };
        let now_ms = crate::clock::to_ms(now);
        let attempts_left = match self.codes.check(state, matches, now).0 {
            CheckOutcome::Accepted => return Ok(Ok(())),
            CheckOutcome::Expired => return Ok(Err(ApiError::expired())),
            CheckOutcome::TooManyAttempts => return Ok(Err(ApiError::too_many_attempts())),
            CheckOutcome::Mismatch { attempts_left } => attempts_left,
        };
        codes::set_code_wrong(c, owner, owner_id, stored.2 + 1).await?;
        let owner_detail = json!({ "owner": owner_id, "attempts_left": attempts_left });
        self.audit_user(c, user, "code.rejected", actor, owner_detail.clone(), now_ms).await?;
        if attempts_left == 0 {
            self.audit_user(c, user, "code.locked", actor, owner_detail, now_ms).await?;
        }
        let (next, outcome) = failures(user).record_failure(self.lock, now);
        let locked_until = next.locked_until.map(crate::clock::to_ms);
        users::set_failures(c, &user.id, i64::from(next.consecutive), locked_until).await?;
        if let FailureOutcome::Locked { until } = outcome {
            let detail = json!({ "consecutive_failures": next.consecutive, "locked_until": locked_until });
            self.audit_user(c, user, "account.locked", actor, detail, now_ms).await?;
            let (subject, body) = messages::account_locked(&self.config, user, actor, now, until);
            self.enqueue_email(c, user, Purpose::AccountLocked, &subject, &body, now_ms).await?;
            return Ok(Err(ApiError::account_locked(RetryAfter(until - now))));
        }
        Ok(Err(ApiError::mismatch(attempts_left)))
    }

    /// Queues a notification in the caller's transaction. The message is
    /// sealed; only the masked recipient is readable.
    #[allow(clippy::too_many_arguments)]
    async fn enqueue(
        &self,
        c: &mut Conn,
        user: &UserRow,
        purpose: Purpose,
        to: &str,
        masked: &str,
        subject: Option<&str>,
        body: &str,
        now_ms: i64,
    ) -> sqlx::Result<()> {
        let payload = self.seal_payload(to, subject, body);
        outbox::enqueue(
            c,
            self.store.engine(),
            outbox::NewNotification {
                id: &ordered_id("n_"),
                user_id: &user.id,
                contract_id: &user.contract_id,
                channel: purpose.channel().as_str(),
                purpose: purpose.as_str(),
                recipient_masked: masked,
                payload_sealed: &payload,
                now: now_ms,
            },
        )
        .await
    }

    /// A notification's text as it waits in the outbox: sealed JSON.
    pub fn seal_payload(&self, to: &str, subject: Option<&str>, body: &str) -> String {
        self.keys.seal(&json!({ "to": to, "subject": subject, "body": body }).to_string())
    }

    pub async fn enqueue_email(
        &self,
        c: &mut Conn,
        user: &UserRow,
        purpose: Purpose,
        subject: &str,
        body: &str,
        now_ms: i64,
    ) -> sqlx::Result<()> {
        let masked = tollgate_core::mask::mask_email(&user.email);
        self.enqueue(c, user, purpose, &user.email, &masked, Some(subject), body, now_ms).await
    }

    /// An audit event done on the user's behalf (`actor_kind = user`),
    /// appended in the caller's transaction.
    pub async fn audit_user(
        &self,
        c: &mut Conn,
        user: &UserRow,
        action: &str,
        actor: &Actor,
        detail: serde_json::Value,
        now_ms: i64,
    ) -> sqlx::Result<i64> {
        let event = user_event(user, action, actor, detail, now_ms);
        audit::append(c, self.store.engine(), now_ms, event.as_new()).await
    }
}

/// An audit event done on the user's behalf (`actor_kind = user`): the
/// actor's device and user agent join `detail`.
pub fn user_event(user: &UserRow, action: &str, actor: &Actor, mut detail: serde_json::Value, now_ms: i64) -> Event {
    if let (Some(map), serde_json::Value::Object(extra)) = (detail.as_object_mut(), actor.detail()) {
        for (k, v) in extra {
            if !v.is_null() {
                map.insert(k, v);
            }
        }
    }
    Event {
        at_ms: now_ms,
        actor_kind: ActorKind::User,
        actor_id: user.id.clone(),
        action: action.to_owned(),
        contract_id: Some(user.contract_id.clone()),
        user_id: Some(user.id.clone()),
        ip: actor.ip.clone(),
        detail,
    }
}

pub fn failures(user: &UserRow) -> AccountFailures {
    AccountFailures {
        consecutive: u32::try_from(user.failed_codes).unwrap_or(u32::MAX),
        locked_until: user.locked_until.map(from_ms),
    }
}

pub fn two_factor_status(user: &UserRow) -> TwoFactorStatus {
    TwoFactorStatus {
        enabled: user.enabled_at.is_some(),
        phone_masked: user.enabled_at.and(user.phone_masked.clone()),
        enabled_at: user.enabled_at.map(from_ms),
        last_verified_at: user.last_verified_at.map(from_ms),
    }
}

/// Loads a user by a path id: `400` for a malformed id, `404` if unknown.
pub async fn load_user(c: &mut Conn, raw_id: &str) -> ApiResult<UserRow> {
    let id = tollgate_core::ids::UserId::parse(raw_id).map_err(|e| ApiError::invalid(format!("user id: {e}")))?;
    users::find_user(c, id.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("no user {id}")))
}

/// `load_user` for a transaction that changes the user: the row stays
/// locked until it ends (PostgreSQL; see `users::lock_user`).
pub async fn lock_user(c: &mut Conn, engine: Engine, raw_id: &str) -> ApiResult<UserRow> {
    let id = tollgate_core::ids::UserId::parse(raw_id).map_err(|e| ApiError::invalid(format!("user id: {e}")))?;
    users::lock_user(c, engine, id.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("no user {id}")))
}
