/**
 * The invariant "everything acknowledged is stored": a reply a machine
 * actually sent that claims a state change holds in its store from then
 * on, unless a later stored change of the same record replaced it.
 *
 * The claims, by what was sent:
 *
 * - the server's REGISTERED to a peer: its `peer` record is stored;
 * - the server's DE-REGISTERED: the peer's record is gone;
 * - the server's FOUND: the buyer's search is stored as found (or bought);
 * - the server's Shipping_Info on the TCP leg: the sale is in the stored
 *   ledger, as completed, and stays there (one entry per transaction);
 * - a peer's TX_ACK of a Shipping_Info, and the sale or purchase it tells
 *   its user: the entry is in its stored history, and stays there;
 * - a peer's "Registered" and "De-registered" to its user: its stored
 *   registration says so.
 *
 * Each claim carries the number of the batch whose release sent it (the
 * shells number batches in the order they were made, across restarts);
 * each stored record carries the number of the batch that wrote or deleted
 * it. A record from a later batch is a later change: the claim is
 * discharged. One from the claim's own batch is the batch's writes,
 * stored. One from an earlier batch must bear the claim out, and so must a
 * key never written: otherwise the write was lost, or not yet stored when
 * the reply left. A ledger or history entry, once claimed, must stay.
 *
 * @module
 */
import type { LedgerEntry, RequestRecord } from "../server/market.ts";
import type { Message } from "../protocol/mod.ts";
import type { Output, RegistrationRecord } from "../peer/agent.ts";
import type { RecordKey } from "./_effects.ts";
import type { RecordStore } from "./records.ts";

/** One reply that claims a stored state. */
export interface Claim {
  /** Whose store must hold it: `"server"` or an agent's name. */
  readonly who: string;
  /** What was sent, in words. */
  readonly what: string;
  /** The batch whose release sent it. */
  readonly batch: number;
  readonly key: RecordKey;
  /** What the claim says of the record (`undefined`: the key is deleted or was never written). */
  readonly holds: (value: unknown) => boolean;
  /** What the record must be, in words. */
  readonly expected: string;
  /** A record no later change may undo (a ledger or history entry). */
  readonly final?: boolean;
}

/** The claims of one message the server sent to the agent `to`. */
export function serverClaims(
  store: RecordStore,
  to: string,
  message: Message,
  batch: number,
): Claim[] {
  const sent = `${message.type} ${message.rq} to ${to}`;
  switch (message.type) {
    case "REGISTERED":
      return [{
        who: "server",
        what: sent,
        batch,
        key: ["peer", to],
        holds: (value) => (value as { name?: string } | undefined)?.name === to,
        expected: `${to} registered`,
      }];
    case "DE-REGISTERED":
      return [{
        who: "server",
        what: sent,
        batch,
        key: ["peer", to],
        holds: (value) => value === undefined,
        expected: `no peer ${to}`,
      }];
    case "FOUND": {
      const search = store.all<RequestRecord>("request")
        .find((request) => request.buyer === to && request.buyerRq === message.rq);
      return [{
        who: "server",
        what: `${sent} at ${message.price}`,
        batch,
        key: ["request", search?.id ?? `(none of ${to}'s searches is ${message.rq})`],
        holds: (value) => {
          const request = value as RequestRecord | undefined;
          return request !== undefined && request.price === message.price &&
            ["found", "buying", "bought"].includes(request.state);
        },
        expected: `the search found at ${message.price}`,
      }];
    }
    case "Shipping_Info":
      return [{
        who: "server",
        what: sent,
        batch,
        key: ["ledger", message.rq],
        holds: (value) => (value as LedgerEntry | undefined)?.outcome === "completed",
        expected: "the sale completed in the ledger",
        final: true,
      }];
    default:
      return [];
  }
}

/** The claims of a TCP message or a printed line of the agent `name`. */
export function agentClaims(
  name: string,
  sent: { message: Message } | { output: Output },
  batch: number,
): Claim[] {
  const history = (rq: string, what: string): Claim => ({
    who: name,
    what,
    batch,
    key: ["history", rq],
    holds: (value) => value !== undefined,
    expected: `history entry ${rq}`,
    final: true,
  });
  const registration = (registered: boolean, what: string): Claim => ({
    who: name,
    what,
    batch,
    key: ["registration"],
    holds: (value) => (value as RegistrationRecord | undefined)?.registered === registered,
    expected: registered ? "registered" : "not registered",
  });
  if ("message" in sent) {
    const { message } = sent;
    return message.type === "TX_ACK"
      ? [history(message.rq, `${name}'s TX_ACK ${message.rq} to the server`)]
      : [];
  }
  const { event, fields } = sent.output;
  const rq = typeof fields?.rq === "string" ? fields.rq : undefined;
  const told = `${name}'s "${sent.output.text}"`;
  if ((event === "Shipping_Info" || event === "bought") && rq) return [history(rq, told)];
  if (event === "REGISTERED") return [registration(true, told)];
  if (event === "DE-REGISTERED") return [registration(false, told)];
  return [];
}

/** The claims made so far, checked against the stores. */
export class Acknowledged {
  #claims: Claim[] = [];
  /** How many claims were made, for the run's report. */
  made = 0;

  /** Adds claims, and checks them at once: a reply leaves only after its commit. */
  add(claims: readonly Claim[], stores: (who: string) => RecordStore): string | undefined {
    for (const claim of claims) {
      this.made++;
      this.#claims.push(claim);
      const broken = verdict(claim, stores(claim.who));
      if (broken) return broken;
    }
    return undefined;
  }

  /**
   * Checks every claim not yet discharged by a later change.
   *
   * @returns The first broken claim, in words.
   */
  check(stores: (who: string) => RecordStore): string | undefined {
    const kept: Claim[] = [];
    let broken: string | undefined;
    for (const claim of this.#claims) {
      const store = stores(claim.who);
      const version = store.version(claim.key);
      // A later change: the claim is discharged. (One from the claim's own
      // batch keeps it: an older batch applied over it would be a loss.)
      if (!claim.final && version && version.batch > claim.batch) continue;
      kept.push(claim);
      broken ??= verdict(claim, store);
    }
    this.#claims = kept;
    return broken;
  }
}

/** Whether a store bears a claim out; if not, what is wrong, in words. */
export function verdict(claim: Claim, store: RecordStore): string | undefined {
  const version = store.version(claim.key);
  // Written by the batch that sent the reply, or a later one: stored. (What
  // one batch says of a record it also changes, a tick that resends FOUND
  // and then lets the search lapse, is the market's affair, not the store's.)
  if (!claim.final && version && version.batch >= claim.batch) return undefined;
  if (claim.holds(version?.value)) return undefined;
  const key = claim.key.join("/");
  const found = version === undefined
    ? `has no ${key} (never stored)`
    : version.value === undefined
    ? `has ${key} deleted (by batch ${version.batch})`
    : `has ${key} = ${JSON.stringify(version.value)} (from batch ${version.batch})`;
  return `acknowledged but not stored: ${claim.what} (batch ${claim.batch}) claims ${claim.expected}, but ${claim.who}'s store ${found}`;
}
