//! Challenges and flows (each owns at most one outstanding code), the
//! per-number send log, and the IPs/devices/countries users verified from.

use super::users::{UserRow, USER_COLUMNS};
use super::{Conn, Engine};
use sqlx::{FromRow, Row};

/// The two tables that own a code. Their code columns share names, so one
/// set of statements serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOwner {
    Challenge,
    Flow,
}

impl CodeOwner {
    fn table(self) -> &'static str {
        match self {
            Self::Challenge => "challenges",
            Self::Flow => "flows",
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub login_id: String,
    pub user_id: String,
    pub ip: String,
    pub device_id: String,
    pub user_agent: Option<String>,
    pub country: Option<String>,
    pub status: String,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_wrong: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct FlowRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub step: String,
    pub new_phone_sealed: Option<String>,
    pub new_phone_masked: Option<String>,
    pub new_phone_digest: Option<String>,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_wrong: i64,
    pub expires_at: i64,
    pub created_at: i64,
}

pub struct NewChallenge<'a> {
    pub id: &'a str,
    pub login_id: &'a str,
    pub user_id: &'a str,
    pub ip: &'a str,
    pub device_id: &'a str,
    pub user_agent: Option<&'a str>,
    pub country: Option<&'a str>,
    pub code_hash: &'a str,
    pub code_expires_at: i64,
    pub now: i64,
}

pub async fn insert_challenge(c: &mut Conn, n: NewChallenge<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO challenges (id, login_id, user_id, ip, device_id, user_agent, country, status, \
         code_hash, code_expires_at, code_wrong, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, 0, $10)",
    )
    .bind(n.id)
    .bind(n.login_id)
    .bind(n.user_id)
    .bind(n.ip)
    .bind(n.device_id)
    .bind(n.user_agent)
    .bind(n.country)
    .bind(n.code_hash)
    .bind(n.code_expires_at)
    .bind(n.now)
    .execute(c)
    .await
    .map(drop)
}

pub async fn find_challenge(c: &mut Conn, id: &str) -> sqlx::Result<Option<ChallengeRow>> {
    sqlx::query_as(
        "SELECT id, login_id, user_id, ip, device_id, user_agent, country, status, code_hash, \
         code_expires_at, code_wrong, created_at FROM challenges WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await
}

/// Finishes a pending challenge; false if it was not pending any more
/// (a racing verification won).
pub async fn finish_challenge(c: &mut Conn, id: &str, status: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE challenges SET status = $2, finished_at = $3, code_hash = NULL \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub struct NewFlow<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub kind: &'a str,
    pub step: &'a str,
    pub new_phone: Option<(&'a str, &'a str, &'a str)>,
    pub code_hash: &'a str,
    pub code_expires_at: i64,
    pub now: i64,
}

pub async fn insert_flow(c: &mut Conn, n: NewFlow<'_>) -> sqlx::Result<()> {
    let (sealed, masked, digest) = match n.new_phone {
        Some((s, m, d)) => (Some(s), Some(m), Some(d)),
        None => (None, None, None),
    };
    sqlx::query(
        "INSERT INTO flows (id, user_id, kind, step, new_phone_sealed, new_phone_masked, new_phone_digest, \
         code_hash, code_expires_at, code_wrong, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $9, $10, $10)",
    )
    .bind(n.id)
    .bind(n.user_id)
    .bind(n.kind)
    .bind(n.step)
    .bind(sealed)
    .bind(masked)
    .bind(digest)
    .bind(n.code_hash)
    .bind(n.code_expires_at)
    .bind(n.now)
    .execute(c)
    .await
    .map(drop)
}

pub async fn find_flow(c: &mut Conn, id: &str) -> sqlx::Result<Option<FlowRow>> {
    sqlx::query_as(
        "SELECT id, user_id, kind, step, new_phone_sealed, new_phone_masked, new_phone_digest, code_hash, \
         code_expires_at, code_wrong, expires_at, created_at FROM flows WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await
}

/// Moves a flow from `from` to `to` — only if it is still at `from`, so a
/// flow cannot be confirmed twice. The code is retired; `expires_at` is the
/// new deadline of the flow.
pub async fn advance_flow(
    c: &mut Conn,
    id: &str,
    from: &str,
    to: &str,
    expires_at: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE flows SET step = $3, code_hash = NULL, code_expires_at = NULL, code_wrong = 0, \
         expires_at = $4, updated_at = $5 WHERE id = $1 AND step = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(expires_at)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_flow_new_phone(
    c: &mut Conn,
    id: &str,
    (sealed, masked, digest): (&str, &str, &str),
) -> sqlx::Result<()> {
    sqlx::query("UPDATE flows SET new_phone_sealed = $2, new_phone_masked = $3, new_phone_digest = $4 WHERE id = $1")
        .bind(id)
        .bind(sealed)
        .bind(masked)
        .bind(digest)
        .execute(c)
        .await
        .map(drop)
}

/// Cancels every open flow of a user; returns how many.
pub async fn cancel_user_flows(c: &mut Conn, user_id: &str, now: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE flows SET step = 'cancelled', code_hash = NULL, updated_at = $2 \
         WHERE user_id = $1 AND step NOT IN ('done', 'cancelled')",
    )
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}

/// Installs a new outstanding code on a challenge or flow (resend, or the
/// next step), killing the old one. For flows the flow's deadline follows.
pub async fn replace_code(c: &mut Conn, owner: CodeOwner, id: &str, hash: &str, expires_at: i64) -> sqlx::Result<()> {
    let extra = match owner {
        CodeOwner::Flow => ", expires_at = $3",
        CodeOwner::Challenge => "",
    };
    sqlx::query(&format!(
        "UPDATE {} SET code_hash = $2, code_expires_at = $3, code_wrong = 0{extra} WHERE id = $1",
        owner.table()
    ))
    .bind(id)
    .bind(hash)
    .bind(expires_at)
    .execute(c)
    .await
    .map(drop)
}

pub async fn set_code_wrong(c: &mut Conn, owner: CodeOwner, id: &str, wrong: i64) -> sqlx::Result<()> {
    sqlx::query(&format!("UPDATE {} SET code_wrong = $2 WHERE id = $1", owner.table()))
        .bind(id)
        .bind(wrong)
        .execute(c)
        .await
        .map(drop)
}

/// Serialises the send limit of one phone digest until the end of the
/// transaction: on PostgreSQL a transaction-scoped advisory lock keyed by
/// the digest (a number may be shared by several users, so the user's row
/// lock does not cover it); SQLite's write transaction already does.
pub async fn lock_phone_sends(c: &mut Conn, engine: Engine, digest: &str) -> sqlx::Result<()> {
    if engine == Engine::Sqlite {
        return Ok(());
    }
    // Wrapped so the row has a type the Any driver decodes (not `void`).
    sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
        .bind(phone_lock_key(digest))
        .execute(c)
        .await
        .map(drop)
}

/// The advisory lock's key for a phone digest (PostgreSQL). The digest is
/// hex of a keyed hash: its first 16 digits make a good key.
fn phone_lock_key(digest: &str) -> i64 {
    let key = digest.get(..16).and_then(|hex| u64::from_str_radix(hex, 16).ok()).unwrap_or(0);
    i64::from_ne_bytes(key.to_ne_bytes())
}

/// Sends to one phone digest since `since`: how many, and the oldest.
pub async fn recent_sends(c: &mut Conn, digest: &str, since: i64) -> sqlx::Result<(i64, Option<i64>)> {
    sqlx::query_as("SELECT COUNT(*), MIN(sent_at) FROM code_sends WHERE phone_digest = $1 AND sent_at > $2")
        .bind(digest)
        .bind(since)
        .fetch_one(c)
        .await
}

/// Deletes up to `limit` sends made at or before `up_to` (ms), the rows a
/// send limit whose window starts at `up_to` no longer counts
/// (`recent_sends` counts those after it). Returns how many went. No index
/// on `sent_at` is needed: the table is read in the order it was written
/// (SQLite's rowid, never the per-number index; PostgreSQL's heap), so the
/// oldest rows come first.
pub async fn prune_sends(c: &mut Conn, engine: Engine, up_to: i64, limit: i64) -> sqlx::Result<u64> {
    let sql = match engine {
        Engine::Sqlite => {
            "DELETE FROM code_sends WHERE rowid IN \
             (SELECT rowid FROM code_sends NOT INDEXED WHERE sent_at <= $1 LIMIT $2)"
        }
        Engine::Postgres => {
            "DELETE FROM code_sends WHERE ctid = ANY(ARRAY(SELECT ctid FROM code_sends WHERE sent_at <= $1 LIMIT $2))"
        }
    };
    let done = sqlx::query(sql).bind(up_to).bind(limit).execute(c).await?;
    Ok(done.rows_affected())
}

pub async fn record_send(c: &mut Conn, digest: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO code_sends (phone_digest, sent_at) VALUES ($1, $2)")
        .bind(digest)
        .bind(now)
        .execute(c)
        .await
        .map(drop)
}

/// What a login decision reads, in one round trip: the user, and when they
/// last verified from this IP, this device and (if given) this country.
/// `None` if there is no such user.
pub async fn login_view(
    c: &mut Conn,
    user_id: &str,
    ip: &str,
    device: &str,
    country: Option<&str>,
) -> sqlx::Result<Option<(UserRow, Familiar)>> {
    let row =
        sqlx::query(LOGIN_VIEW.as_str()).bind(user_id).bind(ip).bind(device).bind(country).fetch_optional(c).await?;
    let Some(row) = row else { return Ok(None) };
    let familiar = Familiar {
        ip: row.try_get("seen_ip")?,
        device: row.try_get("seen_device")?,
        country: row.try_get("seen_country")?,
    };
    Ok(Some((UserRow::from_row(&row)?, familiar)))
}

/// `login_view` on a direct read connection (`store::direct`), called on
/// the caller's thread.
pub fn login_view_direct(
    c: &rusqlite::Connection,
    user_id: &str,
    ip: &str,
    device: &str,
    country: Option<&str>,
) -> rusqlite::Result<Option<(UserRow, Familiar)>> {
    use rusqlite::OptionalExtension;
    let mut read = c.prepare_cached(&LOGIN_VIEW)?;
    read.query_row(rusqlite::params![user_id, ip, device, country], |row| {
        let user = UserRow::from_direct(row)?;
        let familiar =
            Familiar { ip: row.get("seen_ip")?, device: row.get("seen_device")?, country: row.get("seen_country")? };
        Ok((user, familiar))
    })
    .optional()
}

/// `login_view`'s statement: `$1` the user, `$2` the IP, `$3` the device,
/// `$4` the country. Built once: it is run for every login decision.
static LOGIN_VIEW: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {USER_COLUMNS}, \
         (SELECT last_verified_at FROM familiar WHERE user_id = $1 AND kind = 'ip' AND value = $2) AS seen_ip, \
         (SELECT last_verified_at FROM familiar WHERE user_id = $1 AND kind = 'device' AND value = $3) AS seen_device, \
         (SELECT last_verified_at FROM familiar WHERE user_id = $1 AND kind = 'country' AND value = $4) AS seen_country \
         FROM users WHERE id = $1"
    )
});

/// When a user last verified from a login's IP, device and country.
#[derive(Debug, Clone, Copy)]
pub struct Familiar {
    pub ip: Option<i64>,
    pub device: Option<i64>,
    pub country: Option<i64>,
}

pub async fn remember(c: &mut Conn, user: &str, kind: &str, value: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO familiar (user_id, kind, value, last_verified_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, kind, value) DO UPDATE SET last_verified_at = excluded.last_verified_at",
    )
    .bind(user)
    .bind(kind)
    .bind(value)
    .bind(now)
    .execute(c)
    .await
    .map(drop)
}

/// A login challenge prepared outside the writer from a snapshot of the
/// user (SQLite's one-call path, see `insert_challenges_if_current`).
pub struct PreparedChallenge<'a> {
    /// The snapshot: the row must still hold these values.
    pub user: &'a UserRow,
    /// The number's send limit: at most `max_sends` sends after `since`.
    pub since: i64,
    pub max_sends: i64,
    /// The SMS is queued already claimed by this instance until then (its
    /// lease, `claimed_until` and `next_attempt_at`): the request hands it
    /// to this instance's outbox worker once the commit is durable
    /// (`notify::HandOver`), which gives the lease back if it cannot send
    /// it. If it is neither sent and recorded nor given back by then (a
    /// crash), any worker's claim takes it, as any expired lease.
    pub lease_until: i64,
    pub notification: super::outbox::NewNotification<'a>,
    pub challenge: NewChallenge<'a>,
}

/// The most challenges `insert_challenges_if_current` writes in one call.
pub const CHALLENGES_PER_CALL: usize = 64;

/// SQLite, created on each writer connection (`Store::connect`): a view
/// that takes a prepared challenge per row, and the trigger that writes it.
/// For each row, in the order of the INSERT: records the send — only if
/// the user's row still holds the snapshot and the number is under its
/// limit — then queues the SMS and stores the challenge, each only if the
/// statement before it inserted its row (`changes()` in a trigger body:
/// the rows of the body's last finished statement). So a whole group of
/// challenges is one INSERT statement: sqlx's SQLite worker answers every
/// statement of a call with a message to the waiting task, and one message
/// per challenge statement cost more than SQLite's own work.
/// Temporary objects: private to the connection, never in the file, and
/// nothing of them is resolved before the trigger first fires. Should they
/// ever be missing (changing `PRAGMA temp_store` drops them), every call
/// fails cleanly and its challenges take the general path.
pub(crate) const FAST_CHALLENGE_OBJECTS: &str = "\
    CREATE TEMP VIEW IF NOT EXISTS fast_challenge (now, user_id, contract_id, phone_sealed, phone_masked, \
    phone_digest, locked_until, since, max_sends, notification_id, channel, purpose, recipient_masked, \
    payload_sealed, challenge_id, login_id, ip, device_id, user_agent, country, code_hash, code_expires_at, \
    lease_until) \
    AS SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE 0; \
    CREATE TEMP TRIGGER IF NOT EXISTS fast_challenge_write INSTEAD OF INSERT ON fast_challenge BEGIN \
    INSERT INTO code_sends (phone_digest, sent_at) \
    SELECT phone_digest, NEW.now FROM users WHERE id = NEW.user_id AND contract_id = NEW.contract_id \
    AND enabled_at IS NOT NULL AND phone_sealed = NEW.phone_sealed AND phone_masked = NEW.phone_masked \
    AND phone_digest = NEW.phone_digest AND locked_until IS NEW.locked_until \
    AND (SELECT COUNT(*) FROM code_sends WHERE phone_digest = NEW.phone_digest AND sent_at > NEW.since) \
    < NEW.max_sends; \
    INSERT INTO notifications (id, user_id, contract_id, channel, purpose, recipient_masked, payload_sealed, \
    status, attempts, created_at, next_attempt_at, claimed_until, updated_at) \
    SELECT NEW.notification_id, NEW.user_id, NEW.contract_id, NEW.channel, NEW.purpose, NEW.recipient_masked, \
    NEW.payload_sealed, 'queued', 0, NEW.now, NEW.lease_until, NEW.lease_until, NEW.now WHERE changes() = 1; \
    INSERT INTO challenges (id, login_id, user_id, ip, device_id, user_agent, country, status, code_hash, \
    code_expires_at, code_wrong, created_at) \
    SELECT NEW.challenge_id, NEW.login_id, NEW.user_id, NEW.ip, NEW.device_id, NEW.user_agent, NEW.country, \
    'pending', NEW.code_hash, NEW.code_expires_at, 0, NEW.now WHERE changes() = 1; \
    END;";

/// Values per prepared challenge (`bind_prepared`): per row of
/// `fast_challenge`, and of the PostgreSQL statement's `input`.
const FAST_CHALLENGE_COLUMNS: usize = 23;

/// One row of `fast_challenge`'s placeholders, `(?, …, ?)`.
static FAST_CHALLENGE_ROW: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("({})", vec!["?"; FAST_CHALLENGE_COLUMNS].join(", ")));

/// SQLite: the call for `n` challenges (`n` a power of two up to
/// `CHALLENGES_PER_CALL`): one INSERT of `n` rows into `fast_challenge`,
/// then which of their ids are in `challenges`, as one row. Only these
/// sizes are prepared (each once, then found in the connection's statement
/// cache); a call of fewer challenges is padded with rows of NULLs, which
/// match no user and write nothing. No savepoint around the INSERT: SQLite
/// undoes a failed statement whole, its trigger's writes included, and
/// the two statements are three messages back from the connection's
/// thread instead of five.
fn challenges_sql(n: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (0..=CHALLENGES_PER_CALL.trailing_zeros())
            .map(|bits| {
                let n = 1usize << bits;
                let row = FAST_CHALLENGE_ROW.as_str();
                format!(
                    "INSERT INTO fast_challenge VALUES {}; \
                     SELECT group_concat(id, ' ') FROM challenges WHERE id IN ({})",
                    vec![row; n].join(", "),
                    vec!["?"; n].join(", ")
                )
            })
            .collect()
    });
    debug_assert!(n.is_power_of_two() && n <= CHALLENGES_PER_CALL);
    &all[n.trailing_zeros() as usize]
}

/// PostgreSQL: `all` in calls of the largest power of two sizes, each at
/// most `CHALLENGES_PER_CALL` (the statements of each size are prepared
/// once).
fn calls<T>(all: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = all;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (call, next) = rest.split_at(1usize << rest.len().min(CHALLENGES_PER_CALL).ilog2());
        rest = next;
        Some(call)
    })
}

/// SQLite only, in the writer's transaction: for each prepared challenge,
/// records the send, queues the SMS and stores the challenge — if, and
/// only if, the user's row still holds the snapshot's 2FA state, phone,
/// contract and lock (`locked_until`), and the number is under its send
/// limit (counted and recorded in the same statement, under SQLite's write
/// lock, so challenges to one number in one call count each other).
/// Answers, per challenge in order, whether it was written: one that was
/// not has written nothing, and the caller takes the general path for it,
/// which reads the user again and gives the exact refusal.
///
/// One call (one round trip) per `CHALLENGES_PER_CALL` challenges. A call
/// whose INSERT breaks a constraint is undone whole by SQLite and its
/// challenges answered false. `Err` on any other failure: SQLite may then
/// have rolled back the whole transaction (a full disk, an I/O error), so
/// the batch must not go on.
pub async fn insert_challenges_if_current(c: &mut Conn, all: &[PreparedChallenge<'_>]) -> sqlx::Result<Vec<bool>> {
    let mut done = Vec::with_capacity(all.len());
    for call in all.chunks(CHALLENGES_PER_CALL) {
        match challenges_call(c, call).await {
            Ok(written) => done.extend(written),
            Err(sqlx::Error::Database(error)) if constraint(error.kind()) => {
                tracing::warn!(%error, challenges = call.len(), "one-call challenge writes failed; taking the general path");
                done.extend(std::iter::repeat_n(false, call.len()));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(done)
}

/// Errors after which SQLite has undone the statement, and only it.
fn constraint(kind: sqlx::error::ErrorKind) -> bool {
    use sqlx::error::ErrorKind;
    matches!(
        kind,
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation
    )
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// One value of a prepared challenge's row, bound the same way by sqlx
/// and by the writer's own connection (`insert_challenges_direct`).
pub(crate) enum Value<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(&'a str),
    OptText(Option<&'a str>),
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Owned, ValueRef};
        Ok(match *self {
            Value::Int(i) | Value::OptInt(Some(i)) => ToSqlOutput::Owned(Owned::Integer(i)),
            Value::Text(t) | Value::OptText(Some(t)) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::OptInt(None) | Value::OptText(None) => ToSqlOutput::Owned(Owned::Null),
        })
    }
}

/// One prepared challenge's values, in the order of the columns of
/// `fast_challenge` (SQLite) and of the PostgreSQL statement's `input`.
fn prepared_values<'a>(p: &'a PreparedChallenge<'_>) -> [Value<'a>; FAST_CHALLENGE_COLUMNS] {
    use Value::{Int, OptInt, OptText, Text};
    let (u, n, ch) = (p.user, &p.notification, &p.challenge);
    // The three rows share the user's id and contract and one time.
    debug_assert!(n.user_id == u.id && ch.user_id == u.id && n.contract_id == u.contract_id && n.now == ch.now);
    [
        Int(ch.now),
        Text(&u.id),
        Text(&u.contract_id),
        OptText(u.phone_sealed.as_deref()),
        OptText(u.phone_masked.as_deref()),
        OptText(u.phone_digest.as_deref()),
        OptInt(u.locked_until),
        Int(p.since),
        Int(p.max_sends),
        Text(n.id),
        Text(n.channel),
        Text(n.purpose),
        Text(n.recipient_masked),
        Text(n.payload_sealed),
        Text(ch.id),
        Text(ch.login_id),
        Text(ch.ip),
        Text(ch.device_id),
        OptText(ch.user_agent),
        OptText(ch.country),
        Text(ch.code_hash),
        Int(ch.code_expires_at),
        Int(p.lease_until),
    ]
}

/// Binds one prepared challenge's values (`prepared_values`).
fn bind_prepared<'q>(mut query: AnyQuery<'q>, p: &'q PreparedChallenge<'_>) -> AnyQuery<'q> {
    for value in prepared_values(p) {
        query = match value {
            Value::Int(i) => query.bind(i),
            Value::OptInt(i) => query.bind(i),
            Value::Text(t) => query.bind(t),
            Value::OptText(t) => query.bind(t),
        };
    }
    query
}

/// `insert_challenges_if_current` on the group-commit writer's own SQLite
/// connection (`store::direct`), in its transaction: one cached one-row
/// INSERT into `fast_challenge` per challenge. The calls cost no hand-over
/// there, and each challenge is a statement of its own, which SQLite
/// undoes whole when it fails: a constraint error answers that challenge
/// false (it takes the general path). `Err` on any other failure, or if
/// SQLite has ended the transaction: the batch must not go on.
pub(crate) fn insert_challenges_direct(
    c: &rusqlite::Connection,
    all: &[PreparedChallenge<'_>],
) -> rusqlite::Result<Vec<bool>> {
    static INSERT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("INSERT INTO fast_challenge VALUES {}", *FAST_CHALLENGE_ROW));
    let mut insert = c.prepare_cached(&INSERT)?;
    let mut done = Vec::with_capacity(all.len());
    for p in all {
        let before = c.total_changes();
        match insert.execute(rusqlite::params_from_iter(prepared_values(p))) {
            // The trigger writes the send record, the SMS and the
            // challenge, or nothing.
            Ok(_) => match c.total_changes() - before {
                0 => done.push(false),
                3 => done.push(true),
                rows => {
                    let why = format!("a challenge's statement wrote {rows} rows, not 3");
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERNAL),
                        Some(why),
                    ));
                }
            },
            Err(error)
                if error.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
                    && !c.is_autocommit() =>
            {
                tracing::warn!(%error, "a one-statement challenge write failed; taking the general path");
                done.push(false);
            }
            Err(error) => return Err(error),
        }
    }
    Ok(done)
}

/// One call of `insert_challenges_if_current`, padded to a power of two.
async fn challenges_call(c: &mut Conn, call: &[PreparedChallenge<'_>]) -> sqlx::Result<Vec<bool>> {
    let size = call.len().next_power_of_two();
    let mut query = sqlx::query(challenges_sql(size));
    for p in call {
        // A snapshot without a phone matches no row (`= NULL` is never
        // true): nothing of its challenge is written.
        query = bind_prepared(query, p);
    }
    for _ in call.len()..size {
        for _ in 0..FAST_CHALLENGE_COLUMNS {
            query = query.bind(None::<&str>);
        }
    }
    for p in call {
        query = query.bind(p.challenge.id);
    }
    for _ in call.len()..size {
        query = query.bind(None::<&str>);
    }
    // `fetch_all`: every statement runs (a fetch of one row would stop
    // after the first statement's result).
    let rows = query.fetch_all(c).await?;
    match rows.as_slice() {
        [row] => written_of(call, row),
        _ => Err(sqlx::Error::Protocol(format!("the challenges' check returned {} rows", rows.len()))),
    }
}

/// Per challenge of `call`, in order, whether its id is among the
/// written ones: `row` holds them space-separated (NULL: none).
fn written_of(call: &[PreparedChallenge<'_>], row: &sqlx::any::AnyRow) -> sqlx::Result<Vec<bool>> {
    let ids = row.try_get::<Option<String>, _>(0)?.unwrap_or_default();
    let ids: std::collections::HashSet<&str> = ids.split(' ').collect();
    Ok(call.iter().map(|p| ids.contains(p.challenge.id)).collect())
}

/// PostgreSQL only, in the writer's transaction and inside a savepoint
/// that the writer rolls back if this fails (`Err`: a lock race, to be run
/// again, or a database error): what `insert_challenges_if_current` does,
/// answering per challenge, in order, whether it was written. One that was
/// not has written nothing; the caller takes the general path for it,
/// which gives the exact refusal.
///
/// Two round trips per call of up to `CHALLENGES_PER_CALL` challenges
/// (sizes as on SQLite: each statement is prepared once), where the
/// general path takes six per challenge:
///
/// 1. The users' rows are locked, in id order, and then the numbers'
///    advisory locks are taken, in key order: a number's lock is only
///    ever taken after its user's row, as on the general path (`lock_user`,
///    then `lock_phone_sends`), and all of them are held until the
///    transaction ends. (The rows are locked by an uncorrelated subquery,
///    which runs once, before the first number's lock.)
/// 2. One statement writes, for each challenge whose user's row still
///    holds the snapshot (2FA state, phone, contract and lock) and whose
///    number is under its limit, the send, the SMS and the challenge. The
///    limit counts the sends already stored and the earlier challenges of
///    the same call to the same number (from any user): the first ones, in
///    the call's order, go out. Its snapshot is taken after step 1
///    returned, so it sees every send committed by whoever held a number's
///    lock before.
pub async fn insert_challenges_if_current_pg(c: &mut Conn, all: &[PreparedChallenge<'_>]) -> sqlx::Result<Vec<bool>> {
    let mut done = Vec::with_capacity(all.len());
    for call in calls(all) {
        done.extend(challenges_call_pg(c, call).await?);
    }
    Ok(done)
}

/// The two statements of a PostgreSQL call of `n` challenges (`n` a power
/// of two up to `CHALLENGES_PER_CALL`).
fn challenges_sql_pg(n: usize) -> &'static (String, String) {
    static SQL: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (0..=CHALLENGES_PER_CALL.trailing_zeros())
            .map(|bits| {
                let n = 1usize << bits;
                let ids: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
                let keys: Vec<String> = (n + 1..=2 * n).map(|i| format!("(${i}::BIGINT)")).collect();
                let locks = format!(
                    "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(number_key) \
                     FROM (VALUES {}) AS number_keys (number_key) \
                     WHERE (SELECT COUNT(*) FROM (SELECT id FROM users WHERE id IN ({}) ORDER BY id FOR UPDATE) \
                     AS users_locked) >= 0 ORDER BY number_key) AS numbers_locked",
                    keys.join(", "),
                    ids.join(", ")
                );
                let rows: Vec<String> = (0..n)
                    .map(|row| {
                        let params: Vec<String> = (1..=FAST_CHALLENGE_COLUMNS)
                            .map(|col| format!("${}", row * FAST_CHALLENGE_COLUMNS + col))
                            .collect();
                        format!("({row}, {})", params.join(", "))
                    })
                    .collect();
                let writes = format!(
                    "WITH input (ord, now, user_id, contract_id, phone_sealed, phone_masked, phone_digest, \
                     locked_until, since, max_sends, notification_id, channel, purpose, recipient_masked, \
                     payload_sealed, challenge_id, login_id, ip, device_id, user_agent, country, code_hash, \
                     code_expires_at, lease_until) AS (VALUES {}), \
                     current AS (SELECT i.*, ROW_NUMBER() OVER (PARTITION BY i.phone_digest ORDER BY i.ord) AS nth \
                       FROM input i JOIN users u ON u.id = i.user_id AND u.contract_id = i.contract_id \
                       AND u.enabled_at IS NOT NULL AND u.phone_sealed = i.phone_sealed \
                       AND u.phone_masked = i.phone_masked AND u.phone_digest = i.phone_digest \
                       AND u.locked_until IS NOT DISTINCT FROM i.locked_until), \
                     allowed AS (SELECT * FROM current c WHERE c.nth + (SELECT COUNT(*) FROM code_sends s \
                       WHERE s.phone_digest = c.phone_digest AND s.sent_at > c.since) <= c.max_sends), \
                     sent AS (INSERT INTO code_sends (phone_digest, sent_at) SELECT phone_digest, now FROM allowed), \
                     queued AS (INSERT INTO notifications (id, user_id, contract_id, channel, purpose, \
                       recipient_masked, payload_sealed, status, attempts, created_at, next_attempt_at, \
                       claimed_until, updated_at) \
                       SELECT notification_id, user_id, contract_id, channel, purpose, recipient_masked, \
                       payload_sealed, 'queued', 0, now, lease_until, lease_until, now FROM allowed), \
                     stored AS (INSERT INTO challenges (id, login_id, user_id, ip, device_id, user_agent, country, \
                       status, code_hash, code_expires_at, code_wrong, created_at) \
                       SELECT challenge_id, login_id, user_id, ip, device_id, user_agent, country, 'pending', \
                       code_hash, code_expires_at, 0, now FROM allowed RETURNING id) \
                     SELECT STRING_AGG(id, ' ') FROM stored",
                    rows.join(", ")
                );
                (locks, writes)
            })
            .collect()
    });
    debug_assert!(n.is_power_of_two() && n <= CHALLENGES_PER_CALL);
    &all[n.trailing_zeros() as usize]
}

/// One call of `insert_challenges_if_current_pg`; `call.len()` is a power
/// of two.
async fn challenges_call_pg(c: &mut Conn, call: &[PreparedChallenge<'_>]) -> sqlx::Result<Vec<bool>> {
    let (locks, writes) = challenges_sql_pg(call.len());
    let mut query = sqlx::query(locks);
    for p in call {
        query = query.bind(&p.user.id);
    }
    for p in call {
        // A snapshot without a phone locks no number and matches no row.
        query = query.bind(phone_lock_key(p.user.phone_digest.as_deref().unwrap_or_default()));
    }
    query.execute(&mut *c).await?;
    let mut query = sqlx::query(writes);
    for p in call {
        query = bind_prepared(query, p);
    }
    written_of(call, &query.fetch_one(&mut *c).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::NewNotification;
    use crate::store::{users, Store};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("c.db").display()), 0).await.unwrap();
        store.migrate().await.unwrap();
        let mut c = store.pool().acquire().await.unwrap();
        for sql in [
            "INSERT INTO contracts (id, name, search_text, created_at, updated_at) VALUES ('c-1', 'C', 'c-1 c', 1, 1)",
            "INSERT INTO users (id, contract_id, email, display_name, phone_sealed, phone_masked, phone_digest, \
             enabled_at, failed_codes, created_at, updated_at) \
             VALUES ('u-1', 'c-1', 'u@x.test', 'U', 'sealed', '+44•••56', 'digest', 1, 0, 1, 1)",
        ] {
            sqlx::query(sql).execute(&mut *c).await.unwrap();
        }
        drop(c);
        (dir, store)
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query_as::<_, (i64,)>(sql).fetch_one(store.pool()).await.unwrap().0
    }

    /// A challenge `ch` with its SMS `nid` from `user` (the snapshot) at
    /// `now`, under a limit of `limit.1` sends after `limit.0`.
    fn prepared<'a>(
        user: &'a UserRow,
        ch: &'a str,
        nid: &'a str,
        limit: (i64, i64),
        now: i64,
    ) -> PreparedChallenge<'a> {
        PreparedChallenge {
            user,
            since: limit.0,
            max_sends: limit.1,
            lease_until: now + 60_000,
            notification: NewNotification {
                id: nid,
                user_id: &user.id,
                contract_id: &user.contract_id,
                channel: "sms",
                purpose: "login_code",
                recipient_masked: "+44•••56",
                payload_sealed: "sealed-sms",
                now,
            },
            challenge: NewChallenge {
                id: ch,
                login_id: "lg-1",
                user_id: &user.id,
                ip: "198.51.100.1",
                device_id: "d-1",
                user_agent: None,
                country: None,
                code_hash: "hash",
                code_expires_at: now + 600_000,
                now,
            },
        }
    }

    /// Tries a challenge `ch-{n}` from `user` (the snapshot) at `now`, with
    /// a limit of 3 sends since 0.
    async fn try_challenge(store: &Store, user: &UserRow, n: usize, now: i64) -> bool {
        let (ch, nid) = (format!("ch-{n}"), format!("n-{n}"));
        let p = prepared(user, &ch, &nid, (0, 3), now);
        let mut tx = store.begin().await.unwrap();
        let done = insert_challenges_if_current(&mut tx, std::slice::from_ref(&p)).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(done.len(), 1);
        done[0]
    }

    /// The one-round-trip challenge writes all three rows, or — when the
    /// row no longer holds the snapshot, or the number is at its limit —
    /// nothing at all.
    #[tokio::test]
    async fn a_prepared_challenge_is_written_whole_or_not_at_all() {
        let (_dir, store) = store().await;
        let mut c = store.pool().acquire().await.unwrap();
        let user = users::find_user(&mut c, "u-1").await.unwrap().unwrap();
        drop(c);
        let rows = |s: &'static str| count(&store, s);
        let all = || async {
            (
                rows("SELECT COUNT(*) FROM code_sends").await,
                rows("SELECT COUNT(*) FROM notifications").await,
                rows("SELECT COUNT(*) FROM challenges").await,
            )
        };
        // Under the limit: written.
        assert!(try_challenge(&store, &user, 1, 10).await);
        assert_eq!(all().await, (1, 1, 1));

        // A stale snapshot (each column the path relies on): nothing.
        for (n, change) in [
            "UPDATE users SET enabled_at = NULL",
            "UPDATE users SET phone_sealed = 'other'",
            "UPDATE users SET phone_digest = 'other'",
            "UPDATE users SET phone_masked = 'other'",
            "UPDATE users SET locked_until = 99",
        ]
        .into_iter()
        .enumerate()
        {
            sqlx::query(change).execute(store.pool()).await.unwrap();
            assert!(!try_challenge(&store, &user, 10 + n, 20).await, "{change}");
            assert_eq!(all().await, (1, 1, 1), "{change}");
            let mut c = store.pool().acquire().await.unwrap();
            sqlx::query(
                "UPDATE users SET enabled_at = 1, phone_sealed = 'sealed', phone_digest = 'digest', \
                 phone_masked = '+44•••56', locked_until = NULL",
            )
            .execute(&mut *c)
            .await
            .unwrap();
        }
        // The limit (3 after 0) is exact; a send at or before `since` does not count.
        assert!(try_challenge(&store, &user, 2, 30).await);
        assert!(try_challenge(&store, &user, 3, 40).await);
        assert!(!try_challenge(&store, &user, 4, 50).await);
        assert_eq!(all().await, (3, 3, 3));
        sqlx::query("UPDATE code_sends SET sent_at = 0 WHERE sent_at = 10").execute(store.pool()).await.unwrap();
        assert!(try_challenge(&store, &user, 5, 60).await);
        assert_eq!(all().await, (4, 4, 4));
        assert_eq!(rows("SELECT COUNT(*) FROM challenges WHERE id = 'ch-5' AND status = 'pending'").await, 1);
        // The SMS is queued leased (to the hand-over of the instance that
        // wrote it): no claim takes it before the lease ends.
        assert_eq!(
            rows(
                "SELECT COUNT(*) FROM notifications WHERE id = 'n-5' AND status = 'queued' \
                 AND claimed_until = 60060 AND next_attempt_at = 60060"
            )
            .await,
            1
        );
        store.close().await;
    }

    /// Many challenges in one go (100: calls of 64, 32 and 4): each is
    /// written or not on its own — a stale snapshot or a number at its
    /// limit, counting the sends of earlier challenges of the same call —
    /// and a call that fails is rolled back whole while the others stay.
    #[tokio::test]
    async fn many_prepared_challenges_are_each_written_or_not_and_a_failed_call_leaves_nothing() {
        let (_dir, store) = store().await;
        let mut c = store.pool().acquire().await.unwrap();
        for k in 2..=5 {
            sqlx::query(&format!(
                "INSERT INTO users (id, contract_id, email, display_name, phone_sealed, phone_masked, phone_digest, \
                 enabled_at, failed_codes, created_at, updated_at) \
                 VALUES ('u-{k}', 'c-1', 'u{k}@x.test', 'U', 'sealed-{k}', '+44•••5{k}', 'digest-{k}', 1, 0, 1, 1)"
            ))
            .execute(&mut *c)
            .await
            .unwrap();
        }
        let mut users = Vec::new();
        for k in 1..=5 {
            users.push(users::find_user(&mut c, &format!("u-{k}")).await.unwrap().unwrap());
        }
        drop(c);
        // u-4's snapshot is stale: its phone changed since.
        users[3].phone_sealed = Some("older".into());
        let ids: Vec<(String, String)> = (0..140)
            .map(|i| {
                // Challenge 139 reuses 138's id: the last call (128..140,
                // padded to 16 rows) breaks a constraint and is undone.
                let ch = if i == 139 { "ch-138".to_owned() } else { format!("ch-{i}") };
                (ch, format!("n-{i}"))
            })
            .collect();
        let all: Vec<PreparedChallenge<'_>> =
            // The last call is all u-5's, fresh and under its limit: only
            // the undoing of that call keeps its challenges out.
            ids.iter()
                .enumerate()
                .map(|(i, (ch, nid))| prepared(&users[if i >= 128 { 4 } else { i % 4 }], ch, nid, (0, 20), 10))
                .collect();
        let mut tx = store.begin().await.unwrap();
        let done = insert_challenges_if_current(&mut tx, &all).await.unwrap();
        tx.commit().await.unwrap();
        // Users 1–3: their first 20 (i < 80) go out, across the first two
        // calls of 64; u-4: none; the last call's twelve: none.
        let expected: Vec<bool> = (0..140).map(|i| i < 80 && i % 4 != 3).collect();
        assert_eq!(done, expected);
        let rows = |s: &'static str| count(&store, s);
        assert_eq!(rows("SELECT COUNT(*) FROM code_sends").await, 60);
        assert_eq!(rows("SELECT COUNT(*) FROM notifications").await, 60);
        assert_eq!(rows("SELECT COUNT(*) FROM challenges").await, 60);
        for (i, written) in expected.iter().enumerate() {
            let sql = format!(
                "SELECT COUNT(*) FROM challenges c JOIN notifications n ON n.id = 'n-{i}' WHERE c.id = 'ch-{i}'"
            );
            let found = sqlx::query_as::<_, (i64,)>(&sql).fetch_one(store.pool()).await.unwrap().0;
            assert_eq!(found, i64::from(*written), "challenge {i}");
        }
        for k in 1..=5 {
            let sql = format!(
                "SELECT COUNT(*) FROM code_sends WHERE phone_digest = 'digest{}'",
                if k == 1 { String::new() } else { format!("-{k}") }
            );
            let sends = if k <= 3 { 20 } else { 0 };
            assert_eq!(sqlx::query_as::<_, (i64,)>(&sql).fetch_one(store.pool()).await.unwrap().0, sends, "u-{k}");
        }
        store.close().await;
    }

    /// The login decision's direct read sees what sqlx's reader sees: the
    /// user's row, the familiar IP and device (not the unknown country),
    /// and no user for an unknown id; its connections cannot write.
    #[tokio::test]
    async fn the_direct_login_read_matches_the_pooled_one() {
        let (_dir, store) = store().await;
        let mut c = store.pool().acquire().await.unwrap();
        remember(&mut c, "u-1", "ip", "192.0.2.7", 1_000).await.unwrap();
        remember(&mut c, "u-1", "device", "dev-1", 2_000).await.unwrap();
        drop(c);
        let direct = store.direct_readers().expect("an SQLite file has direct readers");
        let mut pooled = store.reader().await.unwrap();
        for (user, ip, device, country) in [
            ("u-1", "192.0.2.7", "dev-1", Some("GB")),
            ("u-1", "198.51.100.1", "dev-2", None),
            ("u-9", "192.0.2.7", "dev-1", None),
        ] {
            let mine = direct.read(|c| login_view_direct(c, user, ip, device, country)).unwrap();
            let theirs = login_view(&mut pooled, user, ip, device, country).await.unwrap();
            let shape = |view: &Option<(UserRow, Familiar)>| {
                view.as_ref()
                    .map(|(u, f)| (u.id.clone(), u.phone_digest.clone(), u.enabled_at, f.ip, f.device, f.country))
            };
            assert_eq!(shape(&mine), shape(&theirs), "{user} {ip} {device}");
        }
        let seen = direct.read(|c| login_view_direct(c, "u-1", "192.0.2.7", "dev-1", None)).unwrap().unwrap().1;
        assert_eq!((seen.ip, seen.device, seen.country), (Some(1_000), Some(2_000), None));
        let write = direct.read(|c| c.execute("DELETE FROM users", []));
        assert!(write.is_err(), "a direct reader wrote: {write:?}");
        drop(pooled);
        store.close().await;
    }

    /// The writer's own connection (`store::direct`): one statement per
    /// challenge, so a stale snapshot, a number at its limit and a
    /// constraint error each keep out that challenge alone, and the
    /// transaction goes on.
    #[tokio::test]
    async fn direct_challenges_are_each_written_or_not_on_their_own() {
        let (_dir, store) = store().await;
        let mut c = store.pool().acquire().await.unwrap();
        sqlx::query(
            "INSERT INTO users (id, contract_id, email, display_name, phone_sealed, phone_masked, phone_digest, \
             enabled_at, failed_codes, created_at, updated_at) \
             VALUES ('u-2', 'c-1', 'u2@x.test', 'U', 'sealed-2', '+44•••52', 'digest-2', 1, 0, 1, 1)",
        )
        .execute(&mut *c)
        .await
        .unwrap();
        let mut users = vec![
            users::find_user(&mut c, "u-1").await.unwrap().unwrap(),
            users::find_user(&mut c, "u-2").await.unwrap().unwrap(),
        ];
        drop(c);
        let stale = {
            let mut user = users[1].clone();
            user.phone_sealed = Some("older".into());
            user
        };
        users.push(stale);
        // 0–11 alternate u-1 (limit 5 sends) and u-2; 12 is u-2's stale
        // snapshot; 13 reuses 11's id.
        let ids: Vec<(String, String)> =
            (0..14).map(|i| (format!("ch-{}", if i == 13 { 11 } else { i }), format!("n-{i}"))).collect();
        let all: Vec<PreparedChallenge<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, (ch, nid))| {
                let limit = if i % 2 == 0 && i != 12 { (0, 5) } else { (0, 20) };
                prepared(&users[if i == 12 { 2 } else { i % 2 }], ch, nid, limit, 10)
            })
            .collect();
        let direct = crate::store::direct::Direct::open(&store).unwrap().unwrap();
        direct.exec("BEGIN IMMEDIATE").unwrap();
        let done = insert_challenges_direct(direct.conn(), &all).unwrap();
        assert!(!direct.conn().is_autocommit(), "the transaction goes on");
        direct.exec("COMMIT").unwrap();
        // u-1: its first 5 (0, 2, 4, 6, 8); u-2: all six (1 … 11).
        let expected: Vec<bool> = (0..14).map(|i| i < 12 && (i % 2 == 1 || i < 10)).collect();
        assert_eq!(done, expected);
        for (table, rows) in [("code_sends", 11), ("notifications", 11), ("challenges", 11)] {
            assert_eq!(count(&store, &format!("SELECT COUNT(*) FROM {table}")).await, rows, "{table}");
        }
        for (i, written) in expected.iter().enumerate() {
            let sql = format!("SELECT COUNT(*) FROM notifications WHERE id = 'n-{i}'");
            assert_eq!(count(&store, &sql).await, i64::from(*written), "notification {i}");
        }
        store.close().await;
    }
}
