-- Account managers and the contracts each may see and act on.
CREATE TABLE managers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE manager_contracts (
    manager_id   TEXT NOT NULL REFERENCES managers (id),
    contract_id  TEXT NOT NULL REFERENCES contracts (id),
    assigned_at  BIGINT NOT NULL,
    PRIMARY KEY (manager_id, contract_id)
);
CREATE INDEX manager_contracts_contract ON manager_contracts (contract_id);

-- Case-insensitive search of contracts by name.
ALTER TABLE contracts ADD COLUMN name_lower TEXT NOT NULL DEFAULT '';
UPDATE contracts SET name_lower = LOWER(name);
CREATE INDEX users_contract_id ON users (contract_id, id);
CREATE INDEX notifications_user_newest ON notifications (user_id, created_at, id);
