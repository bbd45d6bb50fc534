//! What account managers do: look up contracts and users, read the
//! notification history, turn 2FA off for a user or a whole contract, and
//! export the audit log. Everything is scoped to the manager's contracts;
//! anything else is `404` (never confirm that it exists).

use super::{messages, two_factor_status};
use crate::app::App;
use crate::clock::{from_ms, to_ms};
use crate::crypto::ordered_id;
use crate::error::{ApiError, ApiResult};
use crate::store::admin::{self, ContractSummaryRow};
use crate::store::audit::{self, NewEvent};
use crate::store::managers::{self, ManagerRow};
use crate::store::outbox::{self, NewNotification};
use crate::store::users::{self, UserRow};
use crate::store::{codes, Conn};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use tollgate_core::audit::ActorKind;
use tollgate_core::ids::{ContractId, Reason, UserId};
use tollgate_core::mask::mask_email;
use tollgate_core::purpose::Purpose;
use tollgate_proto::admin::{AdminUser, ContractDisabled, ContractSummary, Me, Notification, UserDisabled};
use tollgate_proto::Page;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// `?limit=`: 1..=500, default 50.
pub fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(format!("limit: must be 1 to {MAX_LIMIT}"))),
    }
}

/// Cursors are opaque to clients: base64url of the last key of a page.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

pub fn decode_cursor(raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|c| {
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::invalid("cursor: not a cursor this server gave out"))
    })
    .transpose()
}

/// Trims `q`; empty means no filter. At most 200 characters.
pub fn query_text(q: Option<&str>) -> ApiResult<Option<String>> {
    match q.map(str::trim) {
        None | Some("") => Ok(None),
        Some(q) if q.chars().count() > 200 => Err(ApiError::invalid("q: at most 200 characters")),
        Some(q) => Ok(Some(q.to_owned())),
    }
}

fn page<T, R>(mut rows: Vec<R>, limit: i64, key: impl Fn(&R) -> String, view: impl Fn(&R) -> T) -> Page<T> {
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    if more {
        rows.truncate(usize::try_from(limit).unwrap_or(0));
    }
    let next_cursor = if more { rows.last().map(|r| encode_cursor(&key(r))) } else { None };
    Page { items: rows.iter().map(view).collect(), next_cursor }
}

pub fn contract_summary(row: &ContractSummaryRow) -> ContractSummary {
    ContractSummary {
        contract_id: row.id.clone(),
        name: row.name.clone(),
        users: u64::try_from(row.users).unwrap_or(0),
        users_with_two_factor: u64::try_from(row.users_with_two_factor).unwrap_or(0),
        updated_at: from_ms(row.updated_at),
    }
}

pub fn admin_user(row: &UserRow) -> AdminUser {
    AdminUser {
        user_id: row.id.clone(),
        contract_id: row.contract_id.clone(),
        display_name: row.display_name.clone(),
        email: row.email.clone(),
        two_factor: two_factor_status(row),
    }
}

fn not_found_contract(id: &str) -> ApiError {
    ApiError::not_found(format!("no contract {id} among your contracts"))
}

fn not_found_user(id: &str) -> ApiError {
    ApiError::not_found(format!("no user {id} among your contracts"))
}

/// How many times a whole-contract disable that lost a lock race runs again.
const DISABLE_CONTRACT_RETRIES: u32 = 4;

fn parse_contract(raw: &str) -> ApiResult<ContractId> {
    ContractId::parse(raw).map_err(|e| ApiError::invalid(format!("contract id: {e}")))
}

fn parse_user(raw: &str) -> ApiResult<UserId> {
    UserId::parse(raw).map_err(|e| ApiError::invalid(format!("user id: {e}")))
}

impl App {
    pub async fn admin_me(&self, manager: &ManagerRow) -> ApiResult<Me> {
        let mut c = self.store.pool().acquire().await?;
        let contracts = managers::count_contracts(&mut c, &manager.id).await?;
        Ok(Me {
            manager_id: manager.id.clone(),
            name: manager.name.clone(),
            email: manager.email.clone(),
            contracts: u64::try_from(contracts).unwrap_or(0),
        })
    }

    pub async fn admin_contracts(
        &self,
        manager: &ManagerRow,
        q: Option<&str>,
        updated_since: Option<i64>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> ApiResult<Page<ContractSummary>> {
        let limit = page_limit(limit)?;
        let q = query_text(q)?;
        let after = decode_cursor(cursor)?;
        let mut c = self.store.pool().acquire().await?;
        let rows =
            admin::contracts(&mut c, &manager.id, q.as_deref(), updated_since, after.as_deref(), limit + 1).await?;
        Ok(page(rows, limit, |r| r.id.clone(), contract_summary))
    }

    pub async fn admin_contract(&self, manager: &ManagerRow, raw_id: &str) -> ApiResult<ContractSummary> {
        let id = parse_contract(raw_id)?;
        let mut c = self.store.pool().acquire().await?;
        let row = admin::contract(&mut c, &manager.id, id.as_str()).await?.ok_or_else(|| not_found_contract(raw_id))?;
        Ok(contract_summary(&row))
    }

    pub async fn admin_contract_users(
        &self,
        manager: &ManagerRow,
        raw_id: &str,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> ApiResult<Page<AdminUser>> {
        let id = parse_contract(raw_id)?;
        let limit = page_limit(limit)?;
        let q = query_text(q)?;
        let after = decode_cursor(cursor)?;
        let mut c = self.store.pool().acquire().await?;
        if !managers::is_assigned(&mut c, &manager.id, id.as_str()).await? {
            return Err(not_found_contract(raw_id));
        }
        let rows = admin::contract_users(&mut c, id.as_str(), q.as_deref(), after.as_deref(), limit + 1).await?;
        Ok(page(rows, limit, |r| r.id.clone(), admin_user))
    }

    pub async fn admin_users(
        &self,
        manager: &ManagerRow,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> ApiResult<Page<AdminUser>> {
        let limit = page_limit(limit)?;
        let q = query_text(q)?;
        let after = decode_cursor(cursor)?;
        let mut c = self.store.pool().acquire().await?;
        let rows = admin::search_users(&mut c, &manager.id, q.as_deref(), after.as_deref(), limit + 1).await?;
        Ok(page(rows, limit, |r| r.id.clone(), admin_user))
    }

    pub async fn admin_user(&self, manager: &ManagerRow, raw_id: &str) -> ApiResult<AdminUser> {
        let id = parse_user(raw_id)?;
        let mut c = self.store.pool().acquire().await?;
        let row = admin::user(&mut c, &manager.id, id.as_str()).await?.ok_or_else(|| not_found_user(raw_id))?;
        Ok(admin_user(&row))
    }

    pub async fn admin_notifications(
        &self,
        manager: &ManagerRow,
        raw_id: &str,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> ApiResult<Page<Notification>> {
        let id = parse_user(raw_id)?;
        let limit = page_limit(limit)?;
        let before = decode_cursor(cursor)?;
        let before = match &before {
            Some(key) => {
                let (at, nid) = key.split_once(':').ok_or_else(|| ApiError::invalid("cursor: malformed"))?;
                Some((at.parse::<i64>().map_err(|_| ApiError::invalid("cursor: malformed"))?, nid))
            }
            None => None,
        };
        let mut c = self.store.pool().acquire().await?;
        admin::user(&mut c, &manager.id, id.as_str()).await?.ok_or_else(|| not_found_user(raw_id))?;
        let rows = admin::notifications(&mut c, id.as_str(), before, limit + 1).await?;
        Ok(page(
            rows,
            limit,
            |r| format!("{}:{}", r.created_at, r.id),
            |r| Notification {
                notification_id: r.id.clone(),
                channel: r.channel.clone(),
                purpose: r.purpose.clone(),
                recipient_masked: r.recipient_masked.clone(),
                status: r.status.clone(),
                attempts: u32::try_from(r.attempts).unwrap_or(0),
                last_error: r.last_error.clone(),
                created_at: from_ms(r.created_at),
                sent_at: r.sent_at.map(from_ms),
            },
        ))
    }

    /// Turns 2FA off for one user; idempotent (`changed: false` if it was off).
    pub async fn admin_disable_user(
        &self,
        manager: &ManagerRow,
        raw_id: &str,
        reason: &str,
    ) -> ApiResult<UserDisabled> {
        let id = parse_user(raw_id)?;
        let reason = Reason::parse(reason).map_err(|e| ApiError::invalid(format!("reason: {e}")))?;
        let now = self.now();
        let now_ms = to_ms(now);
        let mut tx = self.store.begin().await?;
        let user = admin::user(&mut tx, &manager.id, id.as_str()).await?.ok_or_else(|| not_found_user(raw_id))?;
        let changed = users::clear_phone(&mut tx, &user.id, now_ms).await?;
        if changed {
            // Pending challenges end at their answer (`logins::ensure_open`).
            codes::cancel_user_flows(&mut tx, &user.id, now_ms).await?;
            users::touch_contract(&mut tx, &user.contract_id, now_ms).await?;
            self.record_manager_disables(&mut tx, manager, std::slice::from_ref(&user), &reason, None, now).await?;
        }
        let row = users::find_user(&mut tx, &user.id).await?.ok_or_else(ApiError::internal)?;
        tx.commit().await?;
        if changed {
            self.outbox_wake.notify_one();
        }
        Ok(UserDisabled { user_id: row.id.clone(), changed, two_factor: two_factor_status(&row) })
    }

    /// Turns 2FA off for every user of a contract, in one transaction: all
    /// or none. On PostgreSQL a transaction that loses a lock race with a
    /// concurrent change of one of the users (a deadlock, or a user created
    /// and enabled meanwhile) is rolled back and run again, a few times,
    /// rather than answered with an error.
    pub async fn admin_disable_contract(
        &self,
        manager: &ManagerRow,
        raw_id: &str,
        reason: &str,
    ) -> ApiResult<ContractDisabled> {
        let id = parse_contract(raw_id)?;
        let reason = Reason::parse(reason).map_err(|e| ApiError::invalid(format!("reason: {e}")))?;
        let mut attempt = 0u32;
        loop {
            match self.disable_contract_once(manager, raw_id, &id, &reason).await {
                Err(e) if e.retry && attempt < DISABLE_CONTRACT_RETRIES => {
                    attempt += 1;
                    tracing::info!(contract = %id, attempt, "whole-contract disable lost a lock race; running it again");
                    tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt))).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn disable_contract_once(
        &self,
        manager: &ManagerRow,
        raw_id: &str,
        id: &ContractId,
        reason: &Reason,
    ) -> ApiResult<ContractDisabled> {
        let now = self.now();
        let now_ms = to_ms(now);
        let mut tx = self.store.begin().await?;
        if !managers::is_assigned(&mut tx, &manager.id, id.as_str()).await? {
            return Err(not_found_contract(raw_id));
        }
        admin::lock_contract_users(&mut tx, self.store.engine(), id.as_str()).await?;
        let affected = admin::enabled_users(&mut tx, id.as_str()).await?;
        let disabled = admin::disable_contract(&mut tx, id.as_str(), now_ms).await?;
        if disabled != u64::try_from(affected.len()).unwrap_or(0) {
            // Only a user created and enabled since the lock can do this.
            tracing::info!(contract = %id, "whole-contract disable: a user of the contract changed meanwhile");
            return Err(ApiError { retry: true, ..ApiError::internal() });
        }
        // The contract row before the audit head: the lock order of every
        // other transaction (PostgreSQL would otherwise find a deadlock).
        if disabled > 0 {
            users::touch_contract(&mut tx, id.as_str(), now_ms).await?;
        }
        let batch = json!({ "contract_id": id.as_str(), "users": disabled });
        self.record_manager_disables(&mut tx, manager, &affected, reason, Some(&batch), now).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(ContractDisabled { contract_id: id.as_str().to_owned(), disabled })
    }

    /// One audit event and one email per affected user, written in batches.
    async fn record_manager_disables(
        &self,
        c: &mut Conn,
        manager: &ManagerRow,
        affected: &[UserRow],
        reason: &Reason,
        batch: Option<&serde_json::Value>,
        now: time::OffsetDateTime,
    ) -> ApiResult<()> {
        let now_ms = to_ms(now);
        let mut events = Vec::with_capacity(affected.len());
        let mut mails = Vec::with_capacity(affected.len());
        for user in affected {
            let mut detail = json!({
                "manager_id": manager.id,
                "manager_name": manager.name,
                "reason": reason.as_str(),
                "phone_masked": user.phone_masked,
            });
            if let Some(batch) = batch {
                detail["whole_contract"] = batch.clone();
            }
            let event = NewEvent {
                actor_kind: ActorKind::Manager,
                actor_id: &manager.id,
                action: "two_factor.disabled_by_manager",
                contract_id: Some(&user.contract_id),
                user_id: Some(&user.id),
                ip: None,
                detail,
            };
            events.push((now_ms, event));
            let (subject, body) = messages::disabled_by_manager(&self.config, user, now);
            let sealed = self.seal_payload(&user.email, Some(&subject), &body);
            mails.push((ordered_id("n_"), mask_email(&user.email), sealed));
        }
        audit::append_batch(c, self.store.engine(), events).await?;
        let purpose = Purpose::TwoFactorDisabledByManager;
        let rows: Vec<NewNotification<'_>> = affected
            .iter()
            .zip(&mails)
            .map(|(user, (id, masked, sealed))| NewNotification {
                id,
                user_id: &user.id,
                contract_id: &user.contract_id,
                channel: purpose.channel().as_str(),
                purpose: purpose.as_str(),
                recipient_masked: masked,
                payload_sealed: sealed,
                now: now_ms,
            })
            .collect();
        outbox::enqueue_batch(c, self.store.engine(), &rows).await?;
        Ok(())
    }
}
