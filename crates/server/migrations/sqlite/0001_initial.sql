-- Tollgate schema. Times are Unix milliseconds (BIGINT). No code, token or
-- whole phone number is stored in clear: codes and tokens are hashes,
-- phone numbers and message texts are sealed (XChaCha20-Poly1305).

CREATE TABLE contracts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX contracts_updated ON contracts (updated_at);

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    contract_id      TEXT NOT NULL REFERENCES contracts (id),
    email            TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    phone_sealed     TEXT,
    phone_masked     TEXT,
    phone_digest     TEXT,
    enabled_at       BIGINT,
    last_verified_at BIGINT,
    failed_codes     BIGINT NOT NULL DEFAULT 0,
    locked_until     BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX users_contract ON users (contract_id);

-- A login that needs a code. One outstanding code at a time.
CREATE TABLE challenges (
    id               TEXT PRIMARY KEY,
    login_id         TEXT NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id),
    ip               TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    user_agent       TEXT,
    country          TEXT,
    status           TEXT NOT NULL,          -- pending | verified | cancelled
    code_hash        TEXT,
    code_expires_at  BIGINT,
    code_wrong       BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX challenges_user ON challenges (user_id, status);

-- An enable / phone-change / disable flow. One outstanding code at a time.
CREATE TABLE flows (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id),
    kind              TEXT NOT NULL,
    step              TEXT NOT NULL,
    new_phone_sealed  TEXT,
    new_phone_masked  TEXT,
    new_phone_digest  TEXT,
    code_hash         TEXT,
    code_expires_at   BIGINT,
    code_wrong        BIGINT NOT NULL DEFAULT 0,
    expires_at        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX flows_user ON flows (user_id, step);

-- Every code sent, per phone digest: the SMS-pumping limit counts these.
CREATE TABLE code_sends (
    phone_digest TEXT NOT NULL,
    sent_at      BIGINT NOT NULL
);
CREATE INDEX code_sends_phone ON code_sends (phone_digest, sent_at);

-- IPs, devices and countries a user has verified from.
CREATE TABLE familiar (
    user_id          TEXT NOT NULL REFERENCES users (id),
    kind             TEXT NOT NULL,          -- ip | device | country
    value            TEXT NOT NULL,
    last_verified_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, value)
);

-- The outbox: written in the same transaction as the change it reports.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    contract_id      TEXT NOT NULL,
    channel          TEXT NOT NULL,          -- sms | email
    purpose          TEXT NOT NULL,
    recipient_masked TEXT NOT NULL,
    payload_sealed   TEXT,                   -- erased once sent or given up
    status           TEXT NOT NULL,          -- queued | sent | failed
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    provider_id      TEXT,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    claimed_until    BIGINT,
    sent_at          BIGINT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_user ON notifications (user_id, created_at);

CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    action       TEXT NOT NULL,
    contract_id  TEXT,
    user_id      TEXT,
    ip           TEXT,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_contract ON audit_events (contract_id, at);
CREATE INDEX audit_user ON audit_events (user_id, at);

-- The chain's head, one row: appending locks it, so writers never fork.
CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE service_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
