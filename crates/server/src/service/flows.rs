//! The help page's flows: turn 2FA on (code to the new phone), change the
//! phone (code to the current phone, then to the new one), turn it off
//! (code to the current phone). Each change is announced by email in the
//! same transaction.

use super::{load_user, lock_user, messages, two_factor_status, Actor, PhoneTarget};
use crate::app::App;
use crate::clock::{from_ms, to_ms};
use crate::crypto::random_id;
use crate::error::{ApiError, ApiResult};
use crate::store::codes::{self, CodeOwner, FlowRow, NewFlow};
use crate::store::users::{self, UserRow};
use crate::store::{Conn, Engine};
use axum::http::StatusCode;
use serde_json::json;
use tollgate_core::code::OtpCode;
use tollgate_core::flow::{FlowKind, FlowOutcome, FlowStep};
use tollgate_core::purpose::Purpose;
use tollgate_proto::service::{Accepted, FlowConfirmed, FlowStarted, TwoFactorStatus};
use tollgate_proto::ErrorCode;

fn flow_kind(row: &FlowRow) -> ApiResult<(FlowKind, FlowStep)> {
    match (FlowKind::parse(&row.kind), FlowStep::parse(&row.step)) {
        (Some(kind), Some(step)) => Ok((kind, step)),
        _ => {
            tracing::error!(flow = %row.id, "flow row has an unknown kind or step");
            Err(ApiError::internal())
        }
    }
}

impl App {
    /// `POST /v1/users/{id}/two-factor/{enable|phone-change|disable}`.
    pub async fn start_flow(
        &self,
        raw_user: &str,
        kind: FlowKind,
        phone: Option<&str>,
        actor: Actor,
    ) -> ApiResult<FlowStarted> {
        let now = self.now();
        let now_ms = to_ms(now);
        let mut tx = self.store.begin().await?;
        let user = lock_user(&mut tx, self.store.engine(), raw_user).await?;
        let enabled = user.enabled_at.is_some();
        match kind {
            FlowKind::Enable if enabled => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::TwoFactorAlreadyEnabled,
                    "two-factor authentication is already on; change the phone instead",
                ))
            }
            FlowKind::PhoneChange | FlowKind::Disable if !enabled => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::TwoFactorNotEnabled,
                    "two-factor authentication is not enabled for this user",
                ))
            }
            _ => {}
        }
        let target = match (kind, phone) {
            (FlowKind::Enable, Some(raw)) => self.parse_phone(raw)?,
            (FlowKind::Enable, None) => return Err(ApiError::invalid("phone: required")),
            _ => self.current_phone(&user)?,
        };
        self.ensure_unlocked(&user, now)?;
        // One open flow per user: a new one replaces any other.
        codes::cancel_user_flows(&mut tx, &user.id, now_ms).await?;
        let step = kind.first_step();
        let purpose = kind.code_purpose(step).ok_or_else(ApiError::internal)?;
        let flow_id = random_id("fl_");
        let (hash, expires) = self.send_code(&mut tx, &user, &flow_id, purpose, &target, now).await?;
        let sealed = self.keys.seal(&target.e164);
        let new_phone =
            (kind == FlowKind::Enable).then_some((sealed.as_str(), target.masked.as_str(), target.digest.as_str()));
        codes::insert_flow(
            &mut tx,
            NewFlow {
                id: &flow_id,
                user_id: &user.id,
                kind: kind.as_str(),
                step: step.as_str(),
                new_phone,
                code_hash: &hash,
                code_expires_at: expires,
                now: now_ms,
            },
        )
        .await?;
        let detail = json!({ "flow_id": flow_id, "kind": kind.as_str(), "sent_to": target.masked });
        self.audit_user(&mut tx, &user, "flow.started", &actor, detail, now_ms).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(FlowStarted { flow_id, step: step.as_str().into(), sent_to: target.masked, expires_at: from_ms(expires) })
    }

    /// Loads an open, unexpired flow and its user, the user's row locked
    /// for the transaction (PostgreSQL: the flow is read again under that
    /// lock, so a step a racing instance confirmed is seen).
    async fn open_flow(
        &self,
        c: &mut Conn,
        flow_id: &str,
        now_ms: i64,
    ) -> ApiResult<(FlowRow, FlowKind, FlowStep, UserRow)> {
        let not_found = || ApiError::not_found(format!("no flow {flow_id}"));
        let first = codes::find_flow(c, flow_id).await?.ok_or_else(not_found)?;
        let engine = self.store.engine();
        let user = users::lock_user(c, engine, &first.user_id).await?.ok_or_else(ApiError::internal)?;
        let flow = match engine {
            Engine::Sqlite => first,
            Engine::Postgres => codes::find_flow(c, flow_id).await?.ok_or_else(not_found)?,
        };
        let (kind, step) = flow_kind(&flow)?;
        if step.is_finished() {
            return Err(ApiError::flow_state(format!("this flow is {}", step.as_str())));
        }
        if now_ms >= flow.expires_at {
            return Err(ApiError::expired());
        }
        Ok((flow, kind, step, user))
    }

    /// `POST /v1/flows/{id}/confirm`.
    pub async fn confirm_flow(&self, flow_id: &str, code: &str, actor: Actor) -> ApiResult<FlowConfirmed> {
        let code =
            OtpCode::parse(code.trim(), self.codes.length).map_err(|e| ApiError::invalid(format!("code: {e}")))?;
        let now = self.now();
        let now_ms = to_ms(now);
        let mut tx = self.store.begin().await?;
        let (flow, kind, step, user) = self.open_flow(&mut tx, flow_id, now_ms).await?;
        let (next, outcome) = kind
            .confirm(step)
            .map_err(|_| ApiError::flow_state(format!("this flow expects {}, not a code", step.as_str())))?;
        let stored = (flow.code_hash.as_deref(), flow.code_expires_at, flow.code_wrong);
        if let Err(rejected) =
            self.check_code(&mut tx, &user, CodeOwner::Flow, &flow.id, stored, &code, &actor, now).await?
        {
            tx.commit().await?;
            self.outbox_wake.notify_one();
            return Err(rejected);
        }
        // The next step gets a fresh deadline; a finished flow keeps none.
        let deadline = to_ms(self.codes.expiry(now));
        if !codes::advance_flow(&mut tx, &flow.id, step.as_str(), next.as_str(), deadline, now_ms).await? {
            return Err(ApiError::flow_state("this step was already confirmed"));
        }
        users::mark_verified(&mut tx, &user.id, now_ms).await?;
        if outcome.is_some() {
            // The contract row before the audit head, the lock order of
            // every transaction (else PostgreSQL finds a deadlock with a
            // concurrent PUT of another user of the contract).
            users::touch_contract(&mut tx, &user.contract_id, now_ms).await?;
        }
        let detail = json!({ "flow_id": flow.id, "kind": kind.as_str(), "step": step.as_str() });
        self.audit_user(&mut tx, &user, "flow.confirmed", &actor, detail, now_ms).await?;
        if let Some(outcome) = outcome {
            self.apply_outcome(&mut tx, &user, &flow, outcome, &actor, now).await?;
        }
        let status = match users::find_user(&mut tx, &user.id).await? {
            Some(row) => two_factor_status(&row),
            None => return Err(ApiError::internal()),
        };
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(FlowConfirmed { flow_id: flow.id, step: next.as_str().into(), two_factor: status })
    }

    async fn apply_outcome(
        &self,
        c: &mut Conn,
        user: &UserRow,
        flow: &FlowRow,
        outcome: FlowOutcome,
        actor: &Actor,
        now: time::OffsetDateTime,
    ) -> ApiResult<()> {
        let now_ms = to_ms(now);
        let new_phone = || match (&flow.new_phone_sealed, &flow.new_phone_masked, &flow.new_phone_digest) {
            (Some(s), Some(m), Some(d)) => Ok((s.clone(), m.clone(), d.clone())),
            _ => Err(ApiError::internal()),
        };
        let (action, (subject, body), detail) = match outcome {
            FlowOutcome::Enabled => {
                let (sealed, masked, digest) = new_phone()?;
                users::set_phone(c, &user.id, &sealed, &masked, &digest, now_ms, now_ms).await?;
                // The device and IP that proved the phone are familiar now.
                if let Some(ip) = &actor.ip {
                    codes::remember(c, &user.id, "ip", ip, now_ms).await?;
                }
                if let Some(device) = &actor.device_id {
                    codes::remember(c, &user.id, "device", device, now_ms).await?;
                }
                let mail = messages::enabled(&self.config, user, actor, &masked, now);
                ("two_factor.enabled", mail, json!({ "flow_id": flow.id, "phone_masked": masked }))
            }
            FlowOutcome::PhoneChanged => {
                let (sealed, masked, digest) = new_phone()?;
                let old = user.phone_masked.clone().unwrap_or_default();
                let enabled_at = user.enabled_at.unwrap_or(now_ms);
                users::set_phone(c, &user.id, &sealed, &masked, &digest, enabled_at, now_ms).await?;
                let mail = messages::phone_changed(&self.config, user, actor, &old, &masked, now);
                (
                    "two_factor.phone_changed",
                    mail,
                    json!({ "flow_id": flow.id, "old_phone_masked": old, "phone_masked": masked }),
                )
            }
            FlowOutcome::Disabled => {
                // Its pending challenges end at their answer (`logins::ensure_open`).
                users::clear_phone(c, &user.id, now_ms).await?;
                let mail = messages::disabled(&self.config, user, actor, now);
                ("two_factor.disabled", mail, json!({ "flow_id": flow.id }))
            }
        };
        let purpose = match outcome {
            FlowOutcome::Enabled => Purpose::TwoFactorEnabled,
            FlowOutcome::PhoneChanged => Purpose::PhoneChanged,
            FlowOutcome::Disabled => Purpose::TwoFactorDisabled,
        };
        users::touch_contract(c, &user.contract_id, now_ms).await?;
        self.audit_user(c, user, action, actor, detail, now_ms).await?;
        self.enqueue_email(c, user, purpose, &subject, &body, now_ms).await?;
        Ok(())
    }

    /// `POST /v1/flows/{id}/new-phone`.
    pub async fn flow_new_phone(&self, flow_id: &str, raw_phone: &str, actor: Actor) -> ApiResult<FlowStarted> {
        let now = self.now();
        let now_ms = to_ms(now);
        let mut tx = self.store.begin().await?;
        let (flow, kind, step, user) = self.open_flow(&mut tx, flow_id, now_ms).await?;
        let next = kind.new_phone(step).map_err(|_| {
            ApiError::flow_state(format!("this flow is at {}, not expecting a new phone", step.as_str()))
        })?;
        let target: PhoneTarget = self.parse_phone(raw_phone)?;
        if user.phone_digest.as_deref() == Some(target.digest.as_str()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "this is already the registered phone number",
            ));
        }
        self.ensure_unlocked(&user, now)?;
        let purpose = kind.code_purpose(next).ok_or_else(ApiError::internal)?;
        let (hash, expires) = self.send_code(&mut tx, &user, &flow.id, purpose, &target, now).await?;
        if !codes::advance_flow(&mut tx, &flow.id, step.as_str(), next.as_str(), expires, now_ms).await? {
            return Err(ApiError::flow_state("this step was already done"));
        }
        let sealed = self.keys.seal(&target.e164);
        codes::set_flow_new_phone(&mut tx, &flow.id, (&sealed, &target.masked, &target.digest)).await?;
        codes::replace_code(&mut tx, CodeOwner::Flow, &flow.id, &hash, expires).await?;
        let detail = json!({ "flow_id": flow.id, "sent_to": target.masked });
        self.audit_user(&mut tx, &user, "flow.new_phone", &actor, detail, now_ms).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(FlowStarted {
            flow_id: flow.id,
            step: next.as_str().into(),
            sent_to: target.masked,
            expires_at: from_ms(expires),
        })
    }

    /// `POST /v1/flows/{id}/resend`: a new code for the current step.
    pub async fn resend_flow(&self, flow_id: &str, actor: Actor) -> ApiResult<Accepted> {
        let now = self.now();
        let now_ms = to_ms(now);
        let mut tx = self.store.begin().await?;
        let (flow, kind, step, user) = self.open_flow(&mut tx, flow_id, now_ms).await?;
        let Some(purpose) = kind.code_purpose(step) else {
            return Err(ApiError::flow_state(format!("this flow is at {}: no code to resend", step.as_str())));
        };
        self.ensure_unlocked(&user, now)?;
        let target = match step {
            FlowStep::ConfirmNewPhone => match (&flow.new_phone_sealed, &flow.new_phone_masked, &flow.new_phone_digest)
            {
                (Some(sealed), Some(masked), Some(digest)) => PhoneTarget {
                    e164: self.keys.unseal(sealed).map_err(|_| ApiError::internal())?,
                    masked: masked.clone(),
                    digest: digest.clone(),
                },
                _ => return Err(ApiError::internal()),
            },
            _ => self.current_phone(&user)?,
        };
        let (hash, expires) = self.send_code(&mut tx, &user, &flow.id, purpose, &target, now).await?;
        codes::replace_code(&mut tx, CodeOwner::Flow, &flow.id, &hash, expires).await?;
        let detail = json!({ "flow_id": flow.id, "sent_to": target.masked });
        self.audit_user(&mut tx, &user, "flow.resent", &actor, detail, now_ms).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Accepted { sent_to: target.masked, expires_at: from_ms(expires) })
    }

    /// `GET /v1/users/{id}/two-factor`.
    pub async fn two_factor(&self, raw_user: &str) -> ApiResult<TwoFactorStatus> {
        let mut conn = self.store.pool().acquire().await?;
        let user = load_user(&mut conn, raw_user).await?;
        Ok(two_factor_status(&user))
    }
}
