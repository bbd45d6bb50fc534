//! Login decisions and their challenges (the help page's "how does 2FA
//! work"): a login that looks like the user's normal behaviour passes; a
//! suspicious one must enter the code sent by SMS.

use super::{lock_user, text_field, Actor};
use crate::app::App;
use crate::clock::to_ms;
use crate::crypto::random_id;
use crate::error::{ApiError, ApiResult};
use crate::store::codes::ChallengeRow;
use crate::store::codes::{self, CodeOwner, NewChallenge};
use crate::store::{users, Conn, Engine};
use serde_json::json;
use std::net::IpAddr;
use tollgate_core::code::OtpCode;
use tollgate_core::purpose::Purpose;
use tollgate_core::risk::{self, Familiarity};
use tollgate_proto::service::{Accepted, CodeRequest, Decision, LoginRequest, LoginResponse, Verified};

impl App {
    /// A challenge and its user, the user's row locked for the transaction
    /// (PostgreSQL: the challenge is read again under that lock, so a
    /// racing instance's verification or wrong code is seen).
    async fn locked_challenge(&self, c: &mut Conn, challenge_id: &str) -> ApiResult<(ChallengeRow, users::UserRow)> {
        let not_found = || ApiError::not_found(format!("no challenge {challenge_id}"));
        let first = codes::find_challenge(c, challenge_id).await?.ok_or_else(not_found)?;
        let engine = self.store.engine();
        let user = users::lock_user(c, engine, &first.user_id).await?.ok_or_else(ApiError::internal)?;
        let challenge = match engine {
            Engine::Sqlite => first,
            Engine::Postgres => codes::find_challenge(c, challenge_id).await?.ok_or_else(not_found)?,
        };
        Ok((challenge, user))
    }

    /// `POST /v1/logins`.
    pub async fn login(&self, req: LoginRequest) -> ApiResult<LoginResponse> {
        let ip: IpAddr =
            req.ip.trim().parse().map_err(|_| ApiError::invalid(format!("ip: {:?} is not an IP address", req.ip)))?;
        let device_id = text_field("device_id", &req.device_id, 200)?;
        let actor = Actor::parse(Some(&ip.to_string()), Some(&device_id), req.user_agent.as_deref())?;
        let ip_text = ip.to_string();
        let country = self.geoip.as_ref().and_then(|g| g.country(ip));
        let now = self.now();
        let now_ms = to_ms(now);
        let login_id = random_id("lg_");

        let mut tx = self.store.begin().await?;
        let user = lock_user(&mut tx, self.store.engine(), &req.user_id).await?;
        if user.enabled_at.is_none() {
            let detail = json!({ "login_id": login_id, "two_factor": false, "country": country });
            self.audit_user(&mut tx, &user, "login.allowed", &actor, detail, now_ms).await?;
            tx.commit().await?;
            return Ok(LoginResponse {
                login_id,
                decision: Decision::Allow,
                challenge_id: None,
                reasons: Vec::new(),
                suggest_two_factor_setup: true,
            });
        }

        let familiarity = Familiarity {
            ip_last_verified: codes::familiar_since(&mut tx, &user.id, "ip", &ip_text)
                .await?
                .map(crate::clock::from_ms),
            device_known: codes::familiar_since(&mut tx, &user.id, "device", &device_id).await?.is_some(),
            country_known: match &country {
                Some(cc) => Some(codes::familiar_since(&mut tx, &user.id, "country", cc).await?.is_some()),
                None => None,
            },
        };
        let signals = risk::assess(familiarity, self.config.risk.familiar_days, now);
        let reasons: Vec<String> = signals.iter().map(|s| s.as_str().to_owned()).collect();
        if signals.is_empty() {
            let detail = json!({ "login_id": login_id, "two_factor": true, "country": country });
            self.audit_user(&mut tx, &user, "login.allowed", &actor, detail, now_ms).await?;
            tx.commit().await?;
            return Ok(LoginResponse {
                login_id,
                decision: Decision::Allow,
                challenge_id: None,
                reasons,
                suggest_two_factor_setup: false,
            });
        }

        self.ensure_unlocked(&user, now)?;
        let phone = self.current_phone(&user)?;
        let challenge_id = random_id("ch_");
        let (hash, expires) = self.send_code(&mut tx, &user, &challenge_id, Purpose::LoginCode, &phone, now).await?;
        codes::insert_challenge(
            &mut tx,
            NewChallenge {
                id: &challenge_id,
                login_id: &login_id,
                user_id: &user.id,
                ip: &ip_text,
                device_id: &device_id,
                user_agent: actor.user_agent.as_deref(),
                country: country.as_deref(),
                code_hash: &hash,
                code_expires_at: expires,
                now: now_ms,
            },
        )
        .await?;
        let detail =
            json!({ "login_id": login_id, "challenge_id": challenge_id, "reasons": reasons, "country": country });
        self.audit_user(&mut tx, &user, "login.challenged", &actor, detail, now_ms).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(LoginResponse {
            login_id,
            decision: Decision::Challenge,
            challenge_id: Some(challenge_id),
            reasons,
            suggest_two_factor_setup: false,
        })
    }

    /// `POST /v1/challenges/{id}/verify`.
    pub async fn verify_challenge(&self, challenge_id: &str, req: CodeRequest) -> ApiResult<Verified> {
        let code =
            OtpCode::parse(req.code.trim(), self.codes.length).map_err(|e| ApiError::invalid(format!("code: {e}")))?;
        let now = self.now();
        let now_ms = to_ms(now);
        let mut tx = self.store.begin().await?;
        let (challenge, user) = self.locked_challenge(&mut tx, challenge_id).await?;
        if challenge.status != "pending" {
            return Err(ApiError::flow_state(format!("this challenge is {}", challenge.status)));
        }
        // The login's own context, unless the caller says otherwise.
        let actor = Actor::parse(
            req.ip.as_deref().or(Some(&challenge.ip)),
            req.device_id.as_deref().or(Some(&challenge.device_id)),
            req.user_agent.as_deref().or(challenge.user_agent.as_deref()),
        )?;
        let stored = (challenge.code_hash.as_deref(), challenge.code_expires_at, challenge.code_wrong);
        if let Err(rejected) =
            self.check_code(&mut tx, &user, CodeOwner::Challenge, &challenge.id, stored, &code, &actor, now).await?
        {
            tx.commit().await?;
            self.outbox_wake.notify_one();
            return Err(rejected);
        }
        if !codes::finish_challenge(&mut tx, &challenge.id, "verified", now_ms).await? {
            return Err(ApiError::flow_state("this challenge was already verified"));
        }
        users::mark_verified(&mut tx, &user.id, now_ms).await?;
        // What was verified becomes familiar.
        codes::remember(&mut tx, &user.id, "ip", &challenge.ip, now_ms).await?;
        codes::remember(&mut tx, &user.id, "device", &challenge.device_id, now_ms).await?;
        if let Some(cc) = &challenge.country {
            codes::remember(&mut tx, &user.id, "country", cc, now_ms).await?;
        }
        let detail =
            json!({ "login_id": challenge.login_id, "challenge_id": challenge.id, "country": challenge.country });
        self.audit_user(&mut tx, &user, "challenge.verified", &actor, detail, now_ms).await?;
        tx.commit().await?;
        Ok(Verified { verified: true })
    }

    /// `POST /v1/challenges/{id}/resend`: a new code; the old one dies.
    pub async fn resend_challenge(&self, challenge_id: &str) -> ApiResult<Accepted> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (challenge, user) = self.locked_challenge(&mut tx, challenge_id).await?;
        if challenge.status != "pending" {
            return Err(ApiError::flow_state(format!("this challenge is {}", challenge.status)));
        }
        self.ensure_unlocked(&user, now)?;
        let phone = self.current_phone(&user)?;
        let (hash, expires) = self.send_code(&mut tx, &user, &challenge.id, Purpose::LoginCode, &phone, now).await?;
        codes::replace_code(&mut tx, CodeOwner::Challenge, &challenge.id, &hash, expires).await?;
        let actor = Actor::parse(Some(&challenge.ip), Some(&challenge.device_id), challenge.user_agent.as_deref())?;
        let detail = json!({ "challenge_id": challenge.id });
        self.audit_user(&mut tx, &user, "challenge.resent", &actor, detail, to_ms(now)).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Accepted { sent_to: phone.masked, expires_at: crate::clock::from_ms(expires) })
    }
}
