-- Outbox and inbox of one service, created in the schema first on the connection's
-- search_path (each service applies this in its own schema, before its own migrations).

-- Events written in the same transaction as the state change; the relay sends pending
-- rows (sent_at IS NULL) in id order and marks them sent.
CREATE TABLE IF NOT EXISTS outbox (
    id          bigserial PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    topic       text        NOT NULL,
    key         text,
    headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    payload     jsonb       NOT NULL,  -- the whole envelope, as sent
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);

CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (id) WHERE sent_at IS NULL;

-- Wakes the relay at commit time (NOTIFY is transactional: a rolled-back insert wakes
-- nobody). The channel is "<schema>.outbox", so relays of other services sleep on.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.outbox', '');
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Event ids each consumer (group) has applied, written in the same transaction as the
-- effect: a redelivered event finds its row and has no second effect.
CREATE TABLE IF NOT EXISTS inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX IF NOT EXISTS inbox_processed_at_idx ON inbox (processed_at);
