//! Login decisions and their challenges (the help page's "how does 2FA
//! work"): a login that looks like the user's normal behaviour passes; a
//! suspicious one must enter the code sent by SMS.

use super::{lock_user, text_field, user_event, Actor};
use crate::app::App;
use crate::clock::to_ms;
use crate::crypto::{ordered_id, random_id};
use crate::error::{ApiError, ApiResult};
use crate::store::codes::ChallengeRow;
use crate::store::codes::{self, CodeOwner, NewChallenge, PreparedChallenge};
use crate::store::outbox::NewNotification;
use crate::store::writer::{work, Answers, Event, Gathered};
use crate::store::{users, Conn, Engine};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use tollgate_core::code::OtpCode;
use tollgate_core::purpose::Purpose;
use tollgate_core::risk::{self, Familiarity};
use tollgate_proto::service::{Accepted, CodeRequest, Decision, LoginRequest, LoginResponse, Verified};

/// A login challenge made ready outside the writer: its code is known
/// only as its hash and inside the sealed SMS. The writer stores it with
/// the others gathered in one job (`FastChallenges`), if the user's row
/// still holds the snapshot it was made from.
pub struct FastChallenge {
    user: users::UserRow,
    challenge_id: String,
    login_id: String,
    ip: String,
    device_id: String,
    user_agent: Option<String>,
    country: Option<String>,
    code_hash: String,
    code_expires_at: i64,
    notification_id: String,
    masked: String,
    payload_sealed: String,
    /// The number's send limit: at most `max_sends` sends after `since`.
    since: i64,
    max_sends: i64,
    /// The SMS is queued leased to this instance until then (its text is
    /// handed to the outbox worker after the commit: `notify::HandOver`).
    lease_until: i64,
    now_ms: i64,
    /// `login.challenged`, appended if the challenge is written.
    event: Event,
}

impl FastChallenge {
    fn as_prepared(&self) -> PreparedChallenge<'_> {
        let purpose = Purpose::LoginCode;
        PreparedChallenge {
            user: &self.user,
            since: self.since,
            max_sends: self.max_sends,
            lease_until: self.lease_until,
            notification: NewNotification {
                id: &self.notification_id,
                user_id: &self.user.id,
                contract_id: &self.user.contract_id,
                channel: purpose.channel().as_str(),
                purpose: purpose.as_str(),
                recipient_masked: &self.masked,
                payload_sealed: &self.payload_sealed,
                now: self.now_ms,
            },
            challenge: NewChallenge {
                id: &self.challenge_id,
                login_id: &self.login_id,
                user_id: &self.user.id,
                ip: &self.ip,
                device_id: &self.device_id,
                user_agent: self.user_agent.as_deref(),
                country: self.country.as_deref(),
                code_hash: &self.code_hash,
                code_expires_at: self.code_expires_at,
                now: self.now_ms,
            },
        }
    }
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

/// The prepared challenges that arrived while the writer was busy are
/// written by one job. Answers, per challenge, whether it was written; one
/// that was not takes the general path.
///
/// * SQLite file: on the writer's own connection, one cached statement
///   per challenge (`codes::insert_challenges_direct`), without a
///   savepoint of the writer's.
/// * SQLite in memory (tests): in one call per 64
///   (`codes::insert_challenges_if_current`) instead of one hand-over
///   each, without a savepoint of the writer's.
/// * PostgreSQL: `codes::insert_challenges_if_current_pg`, inside the
///   writer's savepoint: a lock race rolls the job back and runs it again.
pub struct FastChallenges(pub Engine);

impl Gathered for FastChallenges {
    type Item = FastChallenge;
    type Out = bool;
    type Error = ApiError;

    fn run<'c>(
        &'c self,
        c: &'c mut Conn,
        items: &'c [FastChallenge],
    ) -> BoxFuture<'c, Result<Answers<bool>, ApiError>> {
        Box::pin(async move {
            let prepared: Vec<PreparedChallenge<'_>> = items.iter().map(FastChallenge::as_prepared).collect();
            let done = match self.0 {
                // An error here: SQLite may have undone the whole
                // transaction, so the batch must not go on.
                Engine::Sqlite => codes::insert_challenges_if_current(c, &prepared)
                    .await
                    .map_err(|error| ApiError { broken: true, ..error.into() })?,
                Engine::Postgres => codes::insert_challenges_if_current_pg(c, &prepared).await?,
            };
            Ok(FastChallenges::answers(items, done))
        })
    }

    fn savepoint(&self) -> bool {
        self.0 == Engine::Postgres
    }

    fn direct(&self) -> bool {
        self.0 == Engine::Sqlite
    }

    fn run_direct(&self, c: &rusqlite::Connection, items: &[FastChallenge]) -> Result<Answers<bool>, ApiError> {
        let prepared: Vec<PreparedChallenge<'_>> = items.iter().map(FastChallenge::as_prepared).collect();
        // An error here: SQLite may have undone the whole transaction, so
        // the batch must not go on.
        let done = codes::insert_challenges_direct(c, &prepared)
            .map_err(|error| ApiError { broken: true, ..crate::store::direct::db_error(error).into() })?;
        Ok(FastChallenges::answers(items, done))
    }
}

impl FastChallenges {
    /// Per challenge whether it was written, and the events of those that were.
    fn answers(items: &[FastChallenge], done: Vec<bool>) -> Answers<bool> {
        let events = items.iter().zip(&done).filter(|(_, done)| **done).map(|(f, _)| f.event.clone()).collect();
        (done, events)
    }
}

impl App {
    /// A challenge and its user, the user's row locked for the transaction
    /// (PostgreSQL: the challenge is read after that lock, so a racing
    /// instance's verification or wrong code is seen). Two round trips.
    async fn locked_challenge(&self, c: &mut Conn, challenge_id: &str) -> ApiResult<(ChallengeRow, users::UserRow)> {
        let not_found = || ApiError::not_found(format!("no challenge {challenge_id}"));
        let user = users::lock_user_of_challenge(c, self.store.engine(), challenge_id).await?.ok_or_else(not_found)?;
        let challenge = codes::find_challenge(c, challenge_id).await?.ok_or_else(not_found)?;
        Ok((challenge, user))
    }

    /// The decision's read (`codes::login_view`). SQLite file: on a direct
    /// read connection, on this thread; if that fails (SQLite busy for a
    /// moment), through sqlx's readers like every other engine.
    async fn login_view(
        &self,
        user_id: &str,
        ip: &str,
        device: &str,
        country: Option<&str>,
    ) -> ApiResult<Option<(users::UserRow, codes::Familiar)>> {
        if let Some(direct) = self.store.direct_readers() {
            match direct.read(|c| codes::login_view_direct(c, user_id, ip, device, country)) {
                Ok(view) => return Ok(view),
                Err(error) => tracing::debug!(%error, "direct login read failed; reading through the pool"),
            }
        }
        let mut c = self.store.reader().await?;
        Ok(codes::login_view(&mut c, user_id, ip, device, country).await?)
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
        let (user, seen) = self
            .login_view(user_id.as_str(), &ip_text, &device_id, country.as_deref())
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no user {user_id}")))?;
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
        // The code, its hash and the sealed SMS are made here, on the
        // request's task; the writer only stores them, with the other
        // challenges waiting (`FastChallenges`).
        {
            let login = LoginContext {
                login_id: &login_id,
                ip: &ip_text,
                device_id: &device_id,
                country: country.as_deref(),
                actor: &actor,
                reasons: &reasons,
            };
            if let Some((fast, sms)) = self.prepare_challenge(&user, login, now) {
                let challenge_id = fast.challenge_id.clone();
                if self.fast_challenges.submit(fast).await? {
                    self.outbox_hand_over.hand(self, sms);
                    return Ok(LoginResponse {
                        login_id,
                        decision: Decision::Challenge,
                        challenge_id: Some(challenge_id),
                        reasons,
                        suggest_two_factor_setup: false,
                    });
                }
            }
        }
        // The general path: the user read again under the writer's lock,
        // which gives the exact refusal when the snapshot no longer holds.
        let app = Arc::clone(self);
        let ctx = Arc::new((login_id.clone(), user.id, ip_text, device_id, country, actor, reasons.clone()));
        let job = work(move |c| {
            let (app, ctx) = (Arc::clone(&app), Arc::clone(&ctx));
            Box::pin(async move {
                let (login_id, user_id, ip_text, device_id, country, actor, reasons) = &*ctx;
                let login =
                    LoginContext { login_id, ip: ip_text, device_id, country: country.as_deref(), actor, reasons };
                app.challenge_writes(c, user_id, login, now).await
            })
        });
        let challenge_id = self.writer.submit(job).await?;
        self.outbox_wake.notify_one();
        Ok(LoginResponse {
            login_id,
            decision: Decision::Challenge,
            challenge_id: Some(challenge_id),
            reasons,
            suggest_two_factor_setup: false,
        })
    }

    /// A challenge made ready from the decision's snapshot of the user, and
    /// its SMS for the outbox worker once it is written (`None` if the
    /// snapshot has no usable phone: the general path then gives the
    /// error).
    fn prepare_challenge(
        &self,
        user: &users::UserRow,
        login: LoginContext<'_>,
        now: time::OffsetDateTime,
    ) -> Option<(FastChallenge, crate::notify::Handed)> {
        let phone = self.current_phone(user).ok()?;
        let LoginContext { login_id, ip, device_id, country, actor, reasons } = login;
        let challenge_id = ordered_id("ch_");
        let code = OtpCode::generate(&mut rand::rngs::OsRng, self.codes.length);
        let code_hash = self.keys.code.hash(&challenge_id, &code).to_hex();
        let body = super::messages::sms_body(Purpose::LoginCode, code.reveal(), self.codes.ttl.whole_minutes());
        let now_ms = to_ms(now);
        let detail =
            json!({ "login_id": login_id, "challenge_id": challenge_id, "reasons": reasons, "country": country });
        let notification_id = ordered_id("n_");
        let lease_until = to_ms(now + self.config.outbox.lease());
        let sms = crate::notify::Handed {
            id: notification_id.clone(),
            purpose: Purpose::LoginCode.as_str(),
            payload: crate::notify::Payload { to: phone.e164.clone(), subject: None, body: body.clone() },
            lease_until,
        };
        let fast = FastChallenge {
            event: user_event(user, "login.challenged", actor, detail, now_ms),
            user: user.clone(),
            login_id: login_id.to_owned(),
            ip: ip.to_owned(),
            device_id: device_id.to_owned(),
            user_agent: actor.user_agent.clone(),
            country: country.map(str::to_owned),
            code_hash,
            code_expires_at: to_ms(self.codes.expiry(now)),
            notification_id,
            masked: phone.masked,
            payload_sealed: self.seal_payload(&phone.e164, None, &body),
            since: to_ms(self.sends.window_start(now)),
            max_sends: i64::from(self.sends.max_sends),
            lease_until,
            now_ms,
            challenge_id,
        };
        Some((fast, sms))
    }

    /// A challenge's writes, in the writer's transaction: the user is read
    /// again under its lock (2FA may have been turned off, the account
    /// locked, since the decision's snapshot), then a code is sent (send
    /// limit checked) and the challenge stored. Returns the challenge id
    /// and the `login.challenged` event.
    async fn challenge_writes(
        &self,
        c: &mut Conn,
        user_id: &str,
        login: LoginContext<'_>,
        now: time::OffsetDateTime,
    ) -> ApiResult<(String, Vec<Event>)> {
        let LoginContext { login_id, ip, device_id, country, actor, reasons } = login;
        let now_ms = to_ms(now);
        let user = lock_user(c, self.store.engine(), user_id).await?;
        self.ensure_unlocked(&user, now)?;
        let phone = self.current_phone(&user)?;
        let challenge_id = ordered_id("ch_");
        let (hash, expires) = self.send_code(c, &user, &challenge_id, Purpose::LoginCode, &phone, now).await?;
        codes::insert_challenge(
            c,
            NewChallenge {
                id: &challenge_id,
                login_id,
                user_id: &user.id,
                ip,
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
        ensure_open(&challenge, &user)?;
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
        ensure_open(&challenge, &user)?;
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

/// Whether a challenge may still be answered: it is pending, and its user's
/// 2FA has stayed on since it was made. Turning 2FA off leaves the user's
/// challenges as they are (no index of challenges by user to find them
/// with: docs/BENCHMARKS.md); they end here instead. 2FA off now, or turned
/// off and on again (`enabled_at` later than the challenge), and the
/// challenge is cancelled. Both times come from the servers' clocks: a
/// challenge made less than their skew after 2FA was turned on again could
/// be taken for an older one, which needs a login within milliseconds of
/// confirming the new phone.
fn ensure_open(challenge: &ChallengeRow, user: &users::UserRow) -> ApiResult<()> {
    if challenge.status != "pending" {
        return Err(ApiError::flow_state(format!("this challenge is {}", challenge.status)));
    }
    if user.enabled_at.is_none_or(|on| on > challenge.created_at) {
        return Err(ApiError::flow_state("this challenge is cancelled"));
    }
    Ok(())
}
