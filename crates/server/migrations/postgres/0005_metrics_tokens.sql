-- Tokens that may read GET /metrics and nothing else (a Prometheus
-- scraper's), stored as SHA-256 like every token. A table of their own: a
-- release that does not know them (during a rolling upgrade) cannot take
-- one for a service token.
CREATE TABLE metrics_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
