/**
 * The PostgreSQL store's schema, as numbered migrations. Each is applied
 * once, in order, inside one transaction that holds an advisory lock, so
 * two servers starting at once on a new database do not race; its number
 * goes in `schema_migrations`. A migration, once released, is never
 * edited: a change is a new one.
 *
 * @module
 */

/** One step of the schema. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The advisory lock the migrations take (any fixed number: "shop" in ASCII). */
export const MIGRATION_LOCK = 0x73686f70;

/** The schema, oldest first. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "tables of the market, the ledger and the owner",
    sql: `
-- Times cross as whole milliseconds since 1970; a search's "never"
-- (Number.MAX_SAFE_INTEGER) is 'infinity'. Seconds and milliseconds are
-- added apart, so no product leaves the exact range of a double.
CREATE FUNCTION shop_ts(ms bigint) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN ms = 9007199254740991 THEN 'infinity'::timestamptz
    ELSE timestamptz 'epoch' + (ms / 1000) * interval '1 second'
      + (ms % 1000) * interval '1 millisecond' END
$$;

CREATE FUNCTION shop_ms(t timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN t = 'infinity' THEN 9007199254740991
    ELSE (extract(epoch FROM t) * 1000)::bigint END
$$;

-- Who may write: every apply of the holder checks the epoch (FOR SHARE),
-- so a claim (which raises it) waits for the commit in progress and then
-- fences the previous holder out. The lease runs on the database's clock.
CREATE TABLE owner (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL,
  holder text NOT NULL,
  lease_until timestamptz NOT NULL
);
INSERT INTO owner (epoch, holder, lease_until) VALUES (0, '', 'epoch');

-- The fence, the first statement of every apply of a claimed store: holds
-- the owner row (FOR SHARE) to the commit, or fails if the epoch moved.
CREATE FUNCTION shop_fence(mine bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  current bigint;
BEGIN
  SELECT epoch INTO current FROM owner FOR SHARE;
  IF current IS DISTINCT FROM mine THEN
    RAISE EXCEPTION 'Fenced: the store''s epoch is %, not %', current, mine
      USING ERRCODE = 'SHF01';
  END IF;
END
$$;

-- The server's key pair (the private half never leaves the store).
CREATE TABLE identity (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  public_jwk jsonb NOT NULL,
  private_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Registered peers: the name is unique here, not only in memory.
CREATE TABLE peers (
  name text PRIMARY KEY,
  ip text NOT NULL,
  udp_port integer NOT NULL,
  tcp_port integer NOT NULL,
  source_host text NOT NULL,
  source_port integer NOT NULL,
  registered_at timestamptz NOT NULL,
  -- Authenticated peers: the key the name is bound to, and its fingerprint.
  key text,
  key_fingerprint text,
  -- Extensions, the TLS authority, session keys, and any other field.
  more jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX peers_key ON peers (key) WHERE key IS NOT NULL;

-- Searches, open and ended (an ended one is kept for its retention time).
CREATE TABLE requests (
  id text PRIMARY KEY,
  buyer text NOT NULL,
  buyer_rq text NOT NULL,
  item text NOT NULL,
  description text NOT NULL,
  max_price numeric(12,2) NOT NULL,
  state text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  deadline timestamptz NOT NULL,
  contacted integer NOT NULL,
  seller text,
  price numeric(12,2),
  tx text,
  reason text,
  more jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX requests_open ON requests (buyer)
  WHERE state IN ('searching', 'negotiating', 'found', 'buying');

-- Which search holds a seller's item (found or buying): one at most.
-- Rewritten from each request saved; a second holder fails the commit.
CREATE TABLE reservations (
  seller text NOT NULL,
  item_key text NOT NULL,
  request text NOT NULL UNIQUE REFERENCES requests (id) ON DELETE CASCADE,
  PRIMARY KEY (seller, item_key)
);

CREATE TABLE offers (
  request text NOT NULL,
  seller text NOT NULL,
  price numeric(12,2) NOT NULL,
  at timestamptz NOT NULL,
  more jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (request, seller)
);

-- The offer book; item_key is the item in lower case, item as listed.
CREATE TABLE listings (
  seller text NOT NULL,
  item_key text NOT NULL,
  item text NOT NULL,
  price numeric(12,2) NOT NULL,
  quantity integer NOT NULL,
  description text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  more jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (seller, item_key)
);

-- The sessions' replay marks, by peer name.
CREATE TABLE marks (
  name text PRIMARY KEY,
  mark jsonb NOT NULL
);

-- The ledger, append-only: a row is never changed or removed. A repeat of
-- an entry adds nothing; an entry that differs from the one stored for its
-- transaction (the market does not write one, but the store keeps what it
-- is given) is a new revision. "ledger" is the latest revision of each.
CREATE TABLE ledger_entries (
  tx text NOT NULL,
  revision integer NOT NULL,
  request text NOT NULL,
  buyer_rq text NOT NULL,
  item text NOT NULL,
  price numeric(12,2) NOT NULL,
  fee numeric(12,2) NOT NULL,
  seller_credit numeric(12,2) NOT NULL,
  buyer text NOT NULL,
  seller text NOT NULL,
  buyer_card text,
  seller_card text,
  outcome text NOT NULL CHECK (outcome IN ('completed', 'cancelled')),
  reason text,
  at timestamptz NOT NULL,
  more jsonb NOT NULL DEFAULT '{}',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tx, revision),
  CHECK (outcome <> 'completed' OR fee + seller_credit = price)
);

CREATE FUNCTION shop_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'The ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION shop_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION shop_append_only();

CREATE VIEW ledger AS
  SELECT DISTINCT ON (tx) tx, revision, request, buyer_rq, item, price, fee, seller_credit,
    buyer, seller, buyer_card, seller_card, outcome, reason, at, more, recorded_at
  FROM ledger_entries
  ORDER BY tx, revision DESC;
`,
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The SQLSTATE of a schema newer than this code. */
export const NEWER_SCHEMA = "SHM01";

/**
 * The migrations as one simple-protocol message: one transaction that
 * takes the advisory lock, refuses a newer schema, applies each migration
 * not yet applied and reports the version.
 */
export function migrationScript(): string {
  const steps = MIGRATIONS.map((migration) => `
DO ${
    dollarQuote(`
BEGIN
  IF NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ${migration.version}) THEN
    EXECUTE ${dollarQuote(migration.sql)};
    INSERT INTO schema_migrations (version, name)
      VALUES (${migration.version}, ${dollarQuote(migration.name)});
  END IF;
END`)
  };`);
  return `
SELECT pg_advisory_xact_lock(${MIGRATION_LOCK});
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
DO ${
    dollarQuote(`
DECLARE
  newest integer;
BEGIN
  SELECT max(version) INTO newest FROM schema_migrations;
  IF newest > ${SCHEMA_VERSION} THEN
    RAISE EXCEPTION 'schema version %, newer than this shop knows (${SCHEMA_VERSION})', newest
      USING ERRCODE = '${NEWER_SCHEMA}';
  END IF;
END`)
  };
${steps.join("\n")}
SELECT max(version) AS version FROM schema_migrations;`;
}

/**
 * Text as a dollar-quoted SQL literal, with a tag the text does not hold
 * (so nothing in it can end the literal).
 */
export function dollarQuote(text: string): string {
  // The first occurrence of the closing tag must be the closing tag itself.
  let tag = "$q$";
  for (let n = 0; (text + tag).indexOf(tag) !== text.length; n++) tag = `$q${n}$`;
  return `${tag}${text}${tag}`;
}
