-- The console's local cache. It holds no tokens and no phone numbers, and is
-- deleted on sign-out. Everything here can be rebuilt from the server.

-- The contract index for type-ahead, synced with `updated_since`.
CREATE TABLE contracts (
    contract_id           TEXT PRIMARY KEY NOT NULL,
    name                  TEXT NOT NULL,
    -- lower-cased copies for case-insensitive prefix lookups on an index
    id_key                TEXT NOT NULL,
    name_key              TEXT NOT NULL,
    users                 INTEGER NOT NULL,
    users_with_two_factor INTEGER NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX contracts_by_id_key ON contracts (id_key);
CREATE INDEX contracts_by_name_key ON contracts (name_key);

-- Word-prefix matches inside names ("corp" finds "Acme Corp").
CREATE VIRTUAL TABLE contracts_fts USING fts5(
    name,
    content = 'contracts',
    content_rowid = 'rowid',
    prefix = '1 2 3',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER contracts_ai AFTER INSERT ON contracts BEGIN
    INSERT INTO contracts_fts (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER contracts_ad AFTER DELETE ON contracts BEGIN
    INSERT INTO contracts_fts (contracts_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER contracts_au AFTER UPDATE ON contracts BEGIN
    INSERT INTO contracts_fts (contracts_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO contracts_fts (rowid, name) VALUES (new.rowid, new.name);
END;

-- Small key/value facts, e.g. when the contract index was last synced.
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Contracts and users opened recently, newest first (ids and labels only).
CREATE TABLE recent_items (
    kind      TEXT NOT NULL CHECK (kind IN ('contract', 'user')),
    item_id   TEXT NOT NULL,
    label     TEXT NOT NULL,
    viewed_at TEXT NOT NULL,
    PRIMARY KEY (kind, item_id)
);
CREATE INDEX recent_items_by_time ON recent_items (viewed_at);

-- Audit exports made from this machine.
CREATE TABLE exports (
    export_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    scope       TEXT NOT NULL,
    file_path   TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('completed', 'cancelled', 'failed')),
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
