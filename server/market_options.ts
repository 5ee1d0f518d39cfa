/**
 * The market's timing, caps and options, with their defaults.
 *
 * @module
 */
import { KNOWN_EXTENSIONS } from "../protocol/extensions.ts";
import type { RetransmitOptions } from "../transport/reliability.ts";
import type { LivenessOptions } from "./liveness.ts";

/** Timing of the market, in milliseconds. */
export interface MarketTimers {
  /** How long offers are collected, counted from the first one. */
  readonly offerWindow: number;
  /** How long a search waits for a first offer before NOT_AVAILABLE. */
  readonly searchTimeout: number;
  /** How long a seller has to answer NEGOTIATE. */
  readonly negotiationTimeout: number;
  /** How long a buyer has to answer FOUND before the reservation lapses. */
  readonly reserveTimeout: number;
  /** How long an ended search is remembered (to answer retransmissions). */
  readonly retention: number;
  /** How long a lister has to answer the RESERVE of its listing (extension `book`). */
  readonly holdTimeout: number;
}

/** The defaults: the original spec's windows. */
export const DEFAULT_TIMERS: MarketTimers = {
  offerWindow: 10_000,
  searchTimeout: 5 * 60_000,
  negotiationTimeout: 60_000,
  reserveTimeout: 5 * 60_000,
  retention: 60 * 60_000,
  holdTimeout: 2_000,
};

/** Caps that keep memory bounded under any load. */
export interface MarketLimits {
  /** Open searches one buyer may have at once. */
  readonly openRequestsPerPeer: number;
  /** Registered peers in all. */
  readonly peers: number;
  /** Replies kept to answer repeated datagrams. */
  readonly replyCache: number;
  /** How long a reply is kept: longer than any retransmission goes on. */
  readonly replyCacheTtl: number;
  /** Messages awaiting acknowledgement, in all. */
  readonly unacked: number;
  /** Names one IP may hold at once (0: no cap). */
  readonly namesPerHost: number;
  /**
   * Of those, classic names (0: no cap): a classic peer proves no address,
   * so this bounds what forged registrations can make the server send to
   * one victim.
   */
  readonly classicNamesPerHost: number;
  /** Names one key may hold at once (0: no cap). */
  readonly namesPerKey: number;
}

/** The default caps. */
export const DEFAULT_LIMITS: MarketLimits = {
  openRequestsPerPeer: 32,
  peers: 1_000_000,
  replyCache: 20_000,
  replyCacheTtl: 60_000,
  unacked: 200_000,
  namesPerHost: 64,
  classicNamesPerHost: 8,
  namesPerKey: 4,
};

/** Options for {@linkcode Market}. */
export interface MarketOptions {
  readonly timers?: Partial<MarketTimers>;
  readonly limits?: Partial<MarketLimits>;
  /** Retransmission timing toward our own peers. */
  readonly retransmit?: Partial<RetransmitOptions>;
  /** Makes the server's RQ#s; each call must return a new, unique token. */
  readonly newId?: () => string;
  /** Admit classic peers (no keys, no TLS); refused by default. */
  readonly allowPlaintext?: boolean;
  /** When our peers count as offline, and when an offline one is de-registered. */
  readonly liveness?: Partial<LivenessOptions>;
  /**
   * Throw on a change of a search's state its table does not allow (tests,
   * the simulator); by default the change is refused and a warning logged.
   */
  readonly strictTransitions?: boolean;
}

/**
 * The extensions this server accepts from our own peers: every one this
 * implementation knows (see `protocol/extensions.ts`); `auth` only with a
 * signed registration.
 */
export const SERVER_EXTENSIONS: readonly string[] = KNOWN_EXTENSIONS;
