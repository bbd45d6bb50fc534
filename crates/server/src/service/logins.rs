//! Login decisions and their challenges (the help page's "how does 2FA
//! work"): a login that looks like the user's normal behaviour passes; a
//! suspicious one must enter the code sent by SMS.

use super::{lock_user, text_field, user_event, Actor};
use crate::app::App;
use crate::clock::to_ms;
use crate::crypto::random_id;
use crate::error::{ApiError, ApiResult};
use crate::store::codes::ChallengeRow;
use crate::store::codes::{self, CodeOwner, NewChallenge, PreparedChallenge};
use crate::store::outbox::NewNotification;
use crate::store::writer::{work, Event};
use crate::store::{raw, users, Conn, Engine};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use tollgate_core::code::OtpCode;
use tollgate_core::purpose::Purpose;
use tollgate_core::risk::{self, Familiarity};
use tollgate_proto::service::{Accepted, CodeRequest, Decision, LoginRequest, LoginResponse, Verified};

/// A login challenge made ready outside the writer (SQLite): its code is
/// known only as its hash and inside the sealed SMS.
struct Prepared {
    challenge_id: String,
    code_hash: String,
    code_expires_at: i64,
    notification_id: String,
    masked: String,
    payload_sealed: String,
}

/// What a challenge records of its login.
#[derive(Clone, Copy)]
struct LoginContext<'a> {
    login_id: &'a str,
    ip: &'a str,
    device_id: &'a str,
    country: Option<&'a str>,
    actor: &'a Actor,
    reasons: &'a [String],
}

type Ctx = (String, users::UserRow, String, String, Option<String>, Actor, Vec<String>, Option<Prepared>);

fn ctx_of(ctx: &Ctx) -> LoginContext<'_> {
    let (login_id, _, ip, device_id, country, actor, reasons, _) = ctx;
    LoginContext { login_id, ip, device_id, country: country.as_deref(), actor, reasons }
}

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
    ///
    /// The decision reads a committed snapshot outside any transaction
    /// (the user, and whether the IP, device and country are familiar);
    /// its writes — the audit event, and for a challenge the code, the send
    /// record, the SMS and the challenge — go through the group-commit
    /// writer, and the answer leaves only once they are durable. What a
    /// challenge must re-check under the writer's lock (2FA still on, the
    /// account not locked, the number's send limit) is checked there.
    /// Familiarity only ever grows, so a snapshot a moment old can only
    /// ask for a code that a later read would not have asked for.
    pub async fn login(self: &Arc<Self>, req: LoginRequest) -> ApiResult<LoginResponse> {
        let ip: IpAddr =
            req.ip.trim().parse().map_err(|_| ApiError::invalid(format!("ip: {:?} is not an IP address", req.ip)))?;
        let device_id = text_field("device_id", &req.device_id, 200)?;
        let actor = Actor::parse(Some(&ip.to_string()), Some(&device_id), req.user_agent.as_deref())?;
        let ip_text = ip.to_string();
        let country = self.geoip.as_ref().and_then(|g| g.country(ip));
        let now = self.now();
        let now_ms = to_ms(now);
        let login_id = random_id("lg_");

        let user_id =
            tollgate_core::ids::UserId::parse(&req.user_id).map_err(|e| ApiError::invalid(format!("user id: {e}")))?;
        let mut c = self.store.read_pool().acquire().await?;
        let (user, seen) = codes::login_view(&mut c, user_id.as_str(), &ip_text, &device_id, country.as_deref())
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no user {user_id}")))?;
        drop(c);
        if user.enabled_at.is_none() {
            let detail = json!({ "login_id": login_id, "two_factor": false, "country": country });
            let event = user_event(&user, "login.allowed", &actor, detail, now_ms);
            self.writer.append::<ApiError>(vec![event]).await?;
            return Ok(LoginResponse {
                login_id,
                decision: Decision::Allow,
                challenge_id: None,
                reasons: Vec::new(),
                suggest_two_factor_setup: true,
            });
        }
        let familiarity = Familiarity {
            ip_last_verified: seen.ip.map(crate::clock::from_ms),
            device_known: seen.device.is_some(),
            country_known: country.as_ref().map(|_| seen.country.is_some()),
        };
        let signals = risk::assess(familiarity, self.config.risk.familiar_days, now);
        let reasons: Vec<String> = signals.iter().map(|s| s.as_str().to_owned()).collect();
        if signals.is_empty() {
            let detail = json!({ "login_id": login_id, "two_factor": true, "country": country });
            let event = user_event(&user, "login.allowed", &actor, detail, now_ms);
            self.writer.append::<ApiError>(vec![event]).await?;
            return Ok(LoginResponse {
                login_id,
                decision: Decision::Allow,
                challenge_id: None,
                reasons,
                suggest_two_factor_setup: false,
            });
        }

        self.ensure_unlocked(&user, now)?;
        // SQLite: the code, its hash and the sealed SMS are made here, on
        // the request's task, so that the writer's job is one round trip.
        let prepared = match self.store.engine() {
            Engine::Sqlite => self.prepare_challenge(&user, now),
            Engine::Postgres => None,
        };
        let atomic = prepared.is_some();
        let app = Arc::clone(self);
        let ctx: Arc<Ctx> =
            Arc::new((login_id.clone(), user, ip_text, device_id, country, actor, reasons.clone(), prepared));
        let job = work(move |c| {
            let (app, ctx) = (Arc::clone(&app), Arc::clone(&ctx));
            Box::pin(async move {
                let (login_id, user, ip_text, device_id, country, actor, reasons, prepared) = &*ctx;
                let general = |c| {
                    app.challenge_writes(
                        c,
                        login_id,
                        &user.id,
                        ip_text,
                        device_id,
                        country.as_deref(),
                        actor,
                        reasons,
                        now,
                    )
                };
                let Some(prepared) = prepared else {
                    return general(c).await;
                };
                // Run without the writer's savepoint (`submit_atomic`):
                // each path undoes its own writes when it fails.
                if let Some(done) = app.challenge_if_current(c, user, prepared, ctx_of(&ctx), now).await? {
                    return Ok(done);
                }
                if let Err(error) = raw(c, "SAVEPOINT slow").await {
                    return Err(error.into());
                }
                let ran = general(&mut *c).await;
                let end = match ran {
                    Ok(_) => raw(c, "RELEASE SAVEPOINT slow").await,
                    Err(_) => raw(c, "ROLLBACK TO SAVEPOINT slow; RELEASE SAVEPOINT slow").await,
                };
                match (ran, end) {
                    (ran, Ok(())) => ran,
                    (_, Err(error)) => Err(ApiError { broken: true, ..error.into() }),
                }
            })
        });
        let challenge_id = if atomic { self.writer.submit_atomic(job).await? } else { self.writer.submit(job).await? };
        self.outbox_wake.notify_one();
        Ok(LoginResponse {
            login_id,
            decision: Decision::Challenge,
            challenge_id: Some(challenge_id),
            reasons,
            suggest_two_factor_setup: false,
        })
    }

    /// A challenge made ready from the decision's snapshot of the user
    /// (`None` if the snapshot has no usable phone: the general path then
    /// gives the error).
    fn prepare_challenge(&self, user: &users::UserRow, now: time::OffsetDateTime) -> Option<Prepared> {
        let phone = self.current_phone(user).ok()?;
        let challenge_id = random_id("ch_");
        let code = OtpCode::generate(&mut rand::rngs::OsRng, self.codes.length);
        let code_hash = self.keys.code.hash(&challenge_id, &code).to_hex();
        let body = super::messages::sms_body(Purpose::LoginCode, code.reveal(), self.codes.ttl.whole_minutes());
        Some(Prepared {
            challenge_id,
            code_hash,
            code_expires_at: to_ms(self.codes.expiry(now)),
            notification_id: random_id("n_"),
            masked: phone.masked,
            payload_sealed: self.seal_payload(&phone.e164, None, &body),
        })
    }

    /// SQLite: a prepared challenge's writes in one round trip, if the
    /// user's row still holds what the snapshot said (2FA on, same phone
    /// and contract, same lock) and the number is under its send limit.
    /// `None` (nothing written) otherwise: the caller takes the general
    /// path, which reads the user again and answers exactly.
    async fn challenge_if_current(
        &self,
        c: &mut Conn,
        user: &users::UserRow,
        p: &Prepared,
        login: LoginContext<'_>,
        now: time::OffsetDateTime,
    ) -> ApiResult<Option<(String, Vec<Event>)>> {
        let LoginContext { login_id, ip, device_id, country, actor, reasons } = login;
        let now_ms = to_ms(now);
        let purpose = Purpose::LoginCode;
        let prepared = PreparedChallenge {
            user,
            since: to_ms(self.sends.window_start(now)),
            max_sends: i64::from(self.sends.max_sends),
            notification: NewNotification {
                id: &p.notification_id,
                user_id: &user.id,
                contract_id: &user.contract_id,
                channel: purpose.channel().as_str(),
                purpose: purpose.as_str(),
                recipient_masked: &p.masked,
                payload_sealed: &p.payload_sealed,
                now: now_ms,
            },
            challenge: NewChallenge {
                id: &p.challenge_id,
                login_id,
                user_id: &user.id,
                ip,
                device_id,
                user_agent: actor.user_agent.as_deref(),
                country,
                code_hash: &p.code_hash,
                code_expires_at: p.code_expires_at,
                now: now_ms,
            },
        };
        match codes::insert_challenge_if_current(c, &prepared).await {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(error) => {
                // Undone: the job fails cleanly; not undone: the batch
                // must not commit.
                let broken = codes::undo_challenge_if_current(c).await.is_err();
                return Err(ApiError { broken, ..error.into() });
            }
        }
        let detail =
            json!({ "login_id": login_id, "challenge_id": p.challenge_id, "reasons": reasons, "country": country });
        let event = user_event(user, "login.challenged", actor, detail, now_ms);
        Ok(Some((p.challenge_id.clone(), vec![event])))
    }

    /// A challenge's writes, in the writer's transaction: the user is read
    /// again under its lock (2FA may have been turned off, the account
    /// locked, since the decision's snapshot), then a code is sent (send
    /// limit checked) and the challenge stored. Returns the challenge id
    /// and the `login.challenged` event.
    #[allow(clippy::too_many_arguments)]
    async fn challenge_writes(
        &self,
        c: &mut Conn,
        login_id: &str,
        user_id: &str,
        ip_text: &str,
        device_id: &str,
        country: Option<&str>,
        actor: &Actor,
        reasons: &[String],
        now: time::OffsetDateTime,
    ) -> ApiResult<(String, Vec<Event>)> {
        let now_ms = to_ms(now);
        let user = lock_user(c, self.store.engine(), user_id).await?;
        self.ensure_unlocked(&user, now)?;
        let phone = self.current_phone(&user)?;
        let challenge_id = random_id("ch_");
        let (hash, expires) = self.send_code(c, &user, &challenge_id, Purpose::LoginCode, &phone, now).await?;
        codes::insert_challenge(
            c,
            NewChallenge {
                id: &challenge_id,
                login_id,
                user_id: &user.id,
                ip: ip_text,
                device_id,
                user_agent: actor.user_agent.as_deref(),
                country,
                code_hash: &hash,
                code_expires_at: expires,
                now: now_ms,
            },
        )
        .await?;
        let detail =
            json!({ "login_id": login_id, "challenge_id": challenge_id, "reasons": reasons, "country": country });
        let event = user_event(&user, "login.challenged", actor, detail, now_ms);
        Ok((challenge_id, vec![event]))
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
