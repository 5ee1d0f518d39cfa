/**
 * The PostgreSQL store's records as table rows and back, with no I/O: a
 * batch of mutations becomes, per table, the keys to delete and the rows
 * to upsert (the last write to a key wins), plus the reservations the
 * request rows hold.
 *
 * A row has a column for every field an operator would query; whatever
 * else a record holds goes in its `more` jsonb, with the names of fields
 * present but `undefined` (a search's `price: undefined` after a declined
 * hold), so that a record read back is the record stored, key for key.
 * Money is whole cents (a numeric(12,2) column); times are whole
 * milliseconds (timestamptz; a search's "never" deadline is `infinity`).
 *
 * @module
 */
import { fingerprint } from "../../security/identity.ts";
import type { SessionMark } from "../guard.ts";
import { holdsReservation, type RequestState } from "../request_states.ts";
import type {
  LedgerEntry,
  ListingRecord,
  Mutation,
  OfferRecord,
  RegisteredPeer,
  RequestRecord,
} from "../records.ts";

/** The deadline of a search that has none (`NEVER` in `request_table.ts`): `infinity` in SQL. */
export const NEVER_MS = Number.MAX_SAFE_INTEGER;
/** Largest amount a numeric(12,2) column holds. */
const MAX_AMOUNT = 9_999_999_999.99;
/** Latest and earliest times a JavaScript Date holds. */
const MAX_TIME_MS = 8.64e15;
/** The `more` key listing the fields that are present but `undefined`. */
const UNDEFINED = "~undefined";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type More = Record<string, unknown>;

/** A peers row, as `jsonb_to_recordset` takes it. */
export interface PeerRow {
  name: string;
  ip: string;
  udp_port: number;
  tcp_port: number;
  source_host: string;
  source_port: number;
  registered_at: number;
  key: string | null;
  key_fingerprint: string | null;
  more: More;
}

/** A requests row. */
export interface RequestRow {
  id: string;
  buyer: string;
  buyer_rq: string;
  item: string;
  description: string;
  max_price: number;
  state: RequestState;
  created_at: number;
  updated_at: number;
  deadline: number;
  contacted: number;
  seller: string | null;
  price: number | null;
  tx: string | null;
  reason: string | null;
  more: More;
}

/** An offers row. */
export interface OfferRow {
  request: string;
  seller: string;
  price: number;
  at: number;
  more: More;
}

/** A listings row: keyed by the seller and the item in lower case, as the record's key. */
export interface ListingRow {
  seller: string;
  item_key: string;
  item: string;
  price: number;
  quantity: number;
  description: string;
  seq: number;
  at: number;
  more: More;
}

/** A ledger row. */
export interface LedgerRow {
  tx: string;
  request: string;
  buyer_rq: string;
  item: string;
  price: number;
  fee: number;
  seller_credit: number;
  buyer: string;
  seller: string;
  buyer_card: string | null;
  seller_card: string | null;
  outcome: string;
  reason: string | null;
  at: number;
  more: More;
}

/** A reservation: the seller's item (in lower case) held by a search. */
export interface ReservationRow {
  seller: string;
  item_key: string;
  request: string;
}

/** One table's part of a batch: keys to delete, rows to upsert (disjoint). */
export interface TableChanges<K, R> {
  readonly deletes: K[];
  readonly saves: R[];
}

/** A batch as table changes, in the order the store writes them. */
export interface BatchPlan {
  readonly peers: TableChanges<string, PeerRow>;
  readonly requests: TableChanges<string, RequestRow>;
  readonly offers: TableChanges<[request: string, seller: string], OfferRow>;
  readonly listings: TableChanges<[seller: string, itemKey: string], ListingRow>;
  readonly ledger: LedgerRow[];
  /** Requests whose reservation is taken anew: every saved or deleted one. */
  readonly released: string[];
  readonly reservations: ReservationRow[];
  readonly marks: TableChanges<string, { name: string; mark: SessionMark }>;
}

/**
 * Plans a batch: the last write to each key wins, as it would applied in
 * order; a deleted peer's mark goes with it (after any mark of the batch,
 * as in KV).
 *
 * @throws {TypeError} If a ledger entry is deleted (the ledger is append-only).
 * @throws {RangeError} If a value does not fit its column (money not whole
 *   cents, a time not whole milliseconds, a port not an integer).
 * @throws {Error} If two searches of the batch hold the same seller's item.
 */
export async function planBatch(
  mutations: readonly Mutation[],
  marks: readonly (readonly [name: string, mark: SessionMark])[],
): Promise<BatchPlan> {
  const last = new Map<string, Mutation>();
  const departed = new Set<string>();
  for (const mutation of mutations) {
    const id = JSON.stringify(mutation.key);
    // Delete then re-insert, so the map's order is the last writes' order.
    last.delete(id);
    last.set(id, mutation);
    if (mutation.kind === "delete" && mutation.key[0] === "peer") departed.add(mutation.key[1]);
  }
  const plan: BatchPlan = {
    peers: { deletes: [], saves: [] },
    requests: { deletes: [], saves: [] },
    offers: { deletes: [], saves: [] },
    listings: { deletes: [], saves: [] },
    ledger: [],
    released: [],
    reservations: [],
    marks: { deletes: [...departed], saves: [] },
  };
  const held = new Map<string, string>();
  for (const mutation of last.values()) {
    switch (mutation.key[0]) {
      case "peer": {
        const [, name] = mutation.key;
        if (mutation.kind === "delete") plan.peers.deletes.push(name);
        else plan.peers.saves.push(await peerRow(name, mutation.value as RegisteredPeer));
        break;
      }
      case "request": {
        const [, id] = mutation.key;
        plan.released.push(id);
        if (mutation.kind === "delete") {
          plan.requests.deletes.push(id);
          break;
        }
        const record = mutation.value as RequestRecord;
        plan.requests.saves.push(requestRow(id, record));
        const reservation = reservationOf(id, record);
        if (!reservation) break;
        const slot = `${reservation.seller}\0${reservation.item_key}`;
        const other = held.get(slot);
        if (other !== undefined) throw reservationConflict(reservation, other);
        held.set(slot, id);
        plan.reservations.push(reservation);
        break;
      }
      case "offer": {
        const [, request, seller] = mutation.key;
        if (mutation.kind === "delete") plan.offers.deletes.push([request, seller]);
        else plan.offers.saves.push(offerRow(request, seller, mutation.value as OfferRecord));
        break;
      }
      case "listing": {
        const [, seller, itemKey] = mutation.key;
        if (mutation.kind === "delete") plan.listings.deletes.push([seller, itemKey]);
        else {
          plan.listings.saves.push(listingRow(seller, itemKey, mutation.value as ListingRecord));
        }
        break;
      }
      case "ledger": {
        const [, tx] = mutation.key;
        if (mutation.kind === "delete") {
          throw new TypeError(
            `Cannot delete ledger entry "${tx}": the ledger is append-only`,
          );
        }
        plan.ledger.push(ledgerRow(tx, mutation.value as LedgerEntry));
        break;
      }
      default:
        throw new TypeError(`Cannot store a record under key ${JSON.stringify(mutation.key)}`);
    }
  }
  const markSaves = new Map<string, SessionMark>();
  for (const [name, mark] of marks) if (!departed.has(name)) markSaves.set(name, mark);
  for (const [name, mark] of markSaves) plan.marks.saves.push({ name, mark });
  return plan;
}

/** The reservation a stored search holds, if its state holds the seller's item. */
export function reservationOf(id: string, record: RequestRecord): ReservationRow | undefined {
  if (!holdsReservation(record.state) || record.seller === undefined) return undefined;
  return { seller: record.seller, item_key: record.item.toLowerCase(), request: id };
}

/** The error for a second search holding an item. */
export function reservationConflict(wanted: ReservationRow, holder: string): Error {
  return new Error(
    `Cannot reserve "${wanted.item_key}" of seller "${wanted.seller}" for search "${wanted.request}": search "${holder}" holds it`,
  );
}

// Rows

async function peerRow(name: string, peer: RegisteredPeer): Promise<PeerRow> {
  sameKey("peer", name, peer.name);
  const more = rest(peer, ["name", "ip", "udpPort", "tcpPort", "source", "registeredAt", "auth"]);
  nested(more, "source", peer, ["hostname", "port"]);
  nested(more, "auth", peer, ["key"]);
  const key = peer.auth?.key ?? null;
  return {
    name,
    ip: peer.ip,
    udp_port: int(peer.udpPort, "udpPort"),
    tcp_port: int(peer.tcpPort, "tcpPort"),
    source_host: peer.source.hostname,
    source_port: int(peer.source.port, "source.port"),
    registered_at: time(peer.registeredAt, "registeredAt"),
    key,
    key_fingerprint: key === null ? null : await fingerprint(key).catch(() => null),
    more,
  };
}

const REQUEST_COLUMNS = [
  "id",
  "buyer",
  "buyerRq",
  "item",
  "description",
  "maxPrice",
  "state",
  "createdAt",
  "updatedAt",
  "deadline",
  "contacted",
  "seller",
  "price",
  "tx",
  "reason",
] as const;

function requestRow(id: string, record: RequestRecord): RequestRow {
  sameKey("request", id, record.id);
  return {
    id,
    buyer: record.buyer,
    buyer_rq: record.buyerRq,
    item: record.item,
    description: record.description,
    max_price: money(record.maxPrice, "maxPrice"),
    state: record.state,
    created_at: time(record.createdAt, "createdAt"),
    updated_at: time(record.updatedAt, "updatedAt"),
    deadline: time(record.deadline, "deadline"),
    contacted: int(record.contacted, "contacted"),
    seller: record.seller ?? null,
    price: record.price === undefined ? null : money(record.price, "price"),
    tx: record.tx ?? null,
    reason: record.reason ?? null,
    more: rest(record, REQUEST_COLUMNS),
  };
}

function offerRow(request: string, seller: string, offer: OfferRecord): OfferRow {
  sameKey("offer", `${request} ${seller}`, `${offer.request} ${offer.seller}`);
  return {
    request,
    seller,
    price: money(offer.price, "price"),
    at: time(offer.at, "at"),
    more: rest(offer, ["request", "seller", "price", "at"]),
  };
}

function listingRow(seller: string, itemKey: string, listing: ListingRecord): ListingRow {
  sameKey("listing", seller, listing.seller);
  return {
    seller,
    item_key: itemKey,
    item: listing.item,
    price: money(listing.price, "price"),
    quantity: int(listing.quantity, "quantity"),
    description: listing.description,
    seq: int(listing.seq, "seq"),
    at: time(listing.at, "at"),
    more: rest(listing, ["seller", "item", "price", "quantity", "description", "seq", "at"]),
  };
}

const LEDGER_COLUMNS = [
  "tx",
  "request",
  "buyerRq",
  "item",
  "price",
  "fee",
  "sellerCredit",
  "buyer",
  "seller",
  "buyerCard",
  "sellerCard",
  "outcome",
  "reason",
  "at",
] as const;

function ledgerRow(tx: string, entry: LedgerEntry): LedgerRow {
  sameKey("ledger", tx, entry.tx);
  return {
    tx,
    request: entry.request,
    buyer_rq: entry.buyerRq,
    item: entry.item,
    price: money(entry.price, "price"),
    fee: money(entry.fee, "fee"),
    seller_credit: money(entry.sellerCredit, "sellerCredit"),
    buyer: entry.buyer,
    seller: entry.seller,
    buyer_card: entry.buyerCard ?? null,
    seller_card: entry.sellerCard ?? null,
    outcome: entry.outcome,
    reason: entry.reason ?? null,
    at: time(entry.at, "at"),
    more: rest(entry, LEDGER_COLUMNS),
  };
}

// Records

/** A peers row as read (times in ms, `more` parsed) back into its record. */
export function peerRecord(row: PeerRow): RegisteredPeer {
  const { source, auth, ...more } = row.more as { source?: More; auth?: More };
  const peer: Record<string, unknown> = {
    name: row.name,
    ip: row.ip,
    udpPort: row.udp_port,
    tcpPort: row.tcp_port,
    source: restore({ hostname: row.source_host, port: row.source_port }, source ?? {}),
    registeredAt: row.registered_at,
  };
  if (row.key !== null) peer.auth = restore({ key: row.key }, auth ?? {});
  return restore(peer, more) as unknown as RegisteredPeer;
}

/** A requests row back into its record. */
export function requestRecord(row: RequestRow): RequestRecord {
  const record: Record<string, unknown> = {
    id: row.id,
    buyer: row.buyer,
    buyerRq: row.buyer_rq,
    item: row.item,
    description: row.description,
    maxPrice: row.max_price,
    createdAt: row.created_at,
    state: row.state,
    updatedAt: row.updated_at,
    deadline: row.deadline,
    contacted: row.contacted,
  };
  if (row.seller !== null) record.seller = row.seller;
  if (row.price !== null) record.price = row.price;
  if (row.reason !== null) record.reason = row.reason;
  if (row.tx !== null) record.tx = row.tx;
  return restore(record, row.more) as unknown as RequestRecord;
}

/** An offers row back into its record. */
export function offerRecord(row: OfferRow): OfferRecord {
  const record = { request: row.request, seller: row.seller, price: row.price, at: row.at };
  return restore(record, row.more) as unknown as OfferRecord;
}

/** A listings row back into its record. */
export function listingRecord(row: ListingRow): ListingRecord {
  const record = {
    seller: row.seller,
    item: row.item,
    price: row.price,
    quantity: row.quantity,
    description: row.description,
    seq: row.seq,
    at: row.at,
  };
  return restore(record, row.more) as unknown as ListingRecord;
}

/** A ledger row back into its entry. */
export function ledgerEntry(row: LedgerRow): LedgerEntry {
  const entry: Record<string, unknown> = {
    tx: row.tx,
    request: row.request,
    buyerRq: row.buyer_rq,
    item: row.item,
    price: row.price,
    fee: row.fee,
    sellerCredit: row.seller_credit,
    buyer: row.buyer,
    seller: row.seller,
  };
  if (row.buyer_card !== null) entry.buyerCard = row.buyer_card;
  if (row.seller_card !== null) entry.sellerCard = row.seller_card;
  entry.outcome = row.outcome;
  if (row.reason !== null) entry.reason = row.reason;
  entry.at = row.at;
  return restore(entry, row.more) as unknown as LedgerEntry;
}

// Fields

/** The fields of `record` that have no column, and the names of those set to `undefined`. */
function rest(record: object, columns: readonly string[]): More {
  const more: More = {};
  const undefinedFields: string[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) undefinedFields.push(name);
    else if (!columns.includes(name)) more[name] = json(value, name);
  }
  if (undefinedFields.length > 0) more[UNDEFINED] = undefinedFields;
  return more;
}

/** Keeps in `more[field]` what a nested object holds beside its columns. */
function nested(more: More, field: string, record: object, columns: readonly string[]): void {
  const value = (record as Record<string, unknown>)[field];
  if (value === undefined || value === null) return;
  const left = rest(value, columns);
  if (Object.keys(left).length > 0) more[field] = left;
}

/** A record from its columns and `more`. */
function restore(record: Record<string, unknown>, more: More): Record<string, unknown> {
  for (const [name, value] of Object.entries(more)) {
    if (name === UNDEFINED) continue;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const inner = value as More;
      const base = record[name];
      record[name] = restore(
        base !== null && typeof base === "object" ? { ...base } : {},
        inner,
      );
    } else record[name] = value;
  }
  for (const name of (more[UNDEFINED] as string[] | undefined) ?? []) record[name] = undefined;
  return record;
}

function json(value: unknown, field: string): Json {
  // Objects round-trip through jsonb; their own undefined fields too (see `rest`).
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return rest(value, []) as Json;
  }
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError(`Cannot store ${field} ${value}: expected a finite number`);
  }
  return value as Json;
}

function sameKey(kind: string, key: string, value: string): void {
  if (key !== value) {
    throw new TypeError(`Cannot store ${kind} record "${value}" under the key of "${key}"`);
  }
}

/** Money as a number of whole cents, within numeric(12,2). */
function money(value: number, field: string): number {
  if (
    typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > MAX_AMOUNT ||
    Math.round(value * 100) / 100 !== value
  ) {
    throw new RangeError(
      `Cannot store ${field} ${value}: expected whole cents up to ${MAX_AMOUNT}, like 24.99`,
    );
  }
  return value;
}

/** A time in whole milliseconds (or "never"). */
function time(value: number, field: string): number {
  if (value === NEVER_MS) return value;
  if (!Number.isInteger(value) || Math.abs(value) > MAX_TIME_MS) {
    throw new RangeError(
      `Cannot store ${field} ${value}: expected a time in whole milliseconds since 1970`,
    );
  }
  return value;
}

function int(value: number, field: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`Cannot store ${field} ${value}: expected a whole number`);
  }
  return value;
}
