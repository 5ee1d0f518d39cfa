/**
 * A machine's stored records as its shell keeps them: one map per machine,
 * all writes of one handled event applied together (the shells commit them
 * in one KV transaction), and the snapshot a restarted machine is built
 * from. Each record remembers the batch that wrote it, and a deleted key
 * the batch that deleted it, so that a claim made by one batch can tell a
 * later change from a lost write (`acknowledged.ts`).
 *
 * @module
 */
import type {
  LedgerEntry,
  ListingRecord,
  OfferRecord,
  RegisteredPeer,
  RequestRecord,
  Snapshot,
} from "../server/market.ts";
import type {
  BuyRequest,
  HistoryEntry,
  InventoryItem,
  NegotiationRecord,
  PeerSnapshot,
  RegistrationRecord,
  SettingsRecord,
} from "../peer/agent.ts";
import type { Action, RecordKey } from "./_effects.ts";

/** What a store holds under one key, and which batch put it there. */
export interface StoredVersion {
  /** The record, or `undefined` when the key was deleted. */
  readonly value: unknown;
  /** The batch that wrote or deleted it (0 when applied without one). */
  readonly batch: number;
}

/** A machine's durable records, keyed as the KV store keys them. */
export class RecordStore {
  readonly #records = new Map<string, { key: RecordKey; value: unknown; batch: number }>();
  /** Deleted keys, with the batch that deleted them. */
  readonly #deleted = new Map<string, number>();

  /**
   * Applies the writes among one event's actions, all at once.
   *
   * @param batch The shell's number of the batch (they grow with every batch a machine makes).
   */
  apply(actions: readonly Action[], batch = 0): void {
    for (const action of actions) {
      if (action.kind !== "write") continue;
      const id = JSON.stringify(action.key);
      if (action.value === undefined) {
        this.#records.delete(id);
        this.#deleted.set(id, batch);
      } else {
        this.#records.set(id, { key: action.key, value: structuredClone(action.value), batch });
        this.#deleted.delete(id);
      }
    }
  }

  /** What is stored under `key`, or `undefined` if it was never written. */
  version(key: RecordKey): StoredVersion | undefined {
    const id = JSON.stringify(key);
    const record = this.#records.get(id);
    if (record) return { value: record.value, batch: record.batch };
    const deletedBy = this.#deleted.get(id);
    return deletedBy === undefined ? undefined : { value: undefined, batch: deletedBy };
  }

  /** The values of every record whose key starts with `kind`. */
  all<T>(kind: string): T[] {
    const values: T[] = [];
    for (const { key, value } of this.#records.values()) {
      if (key[0] === kind) values.push(value as T);
    }
    return values;
  }

  /** Every record, for audits. */
  entries(): IterableIterator<{ key: RecordKey; value: unknown }> {
    return this.#records.values();
  }
}

/** The market's snapshot, as the server's store loads it after a restart. */
export function marketSnapshot(store: RecordStore): Snapshot {
  return {
    peers: store.all<RegisteredPeer>("peer"),
    requests: store.all<RequestRecord>("request"),
    offers: store.all<OfferRecord>("offer"),
    listings: store.all<ListingRecord>("listing"),
  };
}

/** The server's ledger: every settled or failed transaction. */
export function ledger(store: RecordStore): LedgerEntry[] {
  return store.all<LedgerEntry>("ledger");
}

/** An agent's snapshot, as the peer's store loads it after a restart. */
export function agentSnapshot(store: RecordStore): PeerSnapshot {
  return {
    registration: store.all<RegistrationRecord>("registration")[0],
    settings: store.all<SettingsRecord>("settings")[0],
    items: store.all<InventoryItem>("item"),
    requests: store.all<BuyRequest>("request"),
    negotiations: store.all<NegotiationRecord>("negotiation"),
    history: store.all<HistoryEntry>("history"),
  };
}
