/**
 * What the dashboard's API sends the page: the state of `GET /api/state`
 * and the `sample` events of `GET /api/events`. The server builds them
 * ({@linkcode Dashboard}) and the page reads them (`dashboard.js`, typed
 * from here with JSDoc), so both sides are checked against one shape.
 *
 * @module
 */
import type { LedgerTotals } from "../ledger.ts";
import type { LedgerEntry } from "../records.ts";
import type { RequestState } from "../request_states.ts";

/** A registered peer as the dashboard shows it: no keys, no certificates. */
export interface DashboardPeer {
  readonly name: string;
  /** Where its datagrams come from, `HOST:PORT`. */
  readonly address: string;
  /** What it registered: `IP UDP port TCP port`. */
  readonly announced: string;
  readonly kind: "classic" | "ours";
  /** Whether it registered signed (extension `auth`). */
  readonly authenticated: boolean;
  readonly extensions: readonly string[];
  readonly registeredAt: number;
  /** When a datagram from its address was last heard, since this start. */
  readonly lastHeard?: number;
  /** The server's own view: not marked offline by its liveness rules. */
  readonly online: boolean;
}

/** An open search. */
export interface DashboardSearch {
  readonly id: string;
  readonly buyer: string;
  readonly item: string;
  readonly description: string;
  readonly maxPrice: number;
  readonly state: RequestState;
  readonly seller?: string;
  readonly price?: number;
  /** How many peers were sent SEARCH. */
  readonly contacted: number;
  readonly createdAt: number;
  readonly deadline: number;
}

/** Searches by state. */
export type StateCounts = Readonly<Partial<Record<RequestState, number>>>;

/** The counts of the cards. */
export interface DashboardCounts {
  readonly peers: number;
  readonly online: number;
  /** Open searches by state. */
  readonly searches: StateCounts;
  /** Ended searches still kept (to answer retransmissions), by state. */
  readonly ended: StateCounts;
  /** Open searches in all. */
  readonly open: number;
  readonly datagrams: number;
}

/** One sample of the charts. */
export interface Sample {
  /** Seconds since the epoch (uPlot's x). */
  readonly t: number;
  /** Datagrams per second. */
  readonly datagrams: number;
  /** Searches made per second. */
  readonly searches: number;
}

/** A `sample` event: a sample, and whether the market changed since the last one. */
export interface SampleEvent extends Sample {
  /** The page should fetch the state again. */
  readonly changed: boolean;
}

/** What `GET /api/state` answers. */
export interface DashboardState {
  /** The server's UDP address, `HOST:PORT`. */
  readonly server: string;
  /** The server's clock, in ms since the epoch. */
  readonly now: number;
  readonly counts: DashboardCounts;
  /** By name. */
  readonly peers: readonly DashboardPeer[];
  /** Oldest first. */
  readonly open: readonly DashboardSearch[];
  /** Oldest first. */
  readonly ledger: readonly LedgerEntry[];
  readonly totals: LedgerTotals;
  /** Oldest first. */
  readonly samples: readonly Sample[];
}
