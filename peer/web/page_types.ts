/**
 * The peer page's API as the browser sees it: what `GET /api/state`
 * answers, the `output` events of its stream, and what an action answers.
 * Shared by the page server (`peer_page.ts`) and the browser's code
 * (`app.js`, `app_logic.js`, which import only its types).
 *
 * @module
 */
import type { BuyRequest, HistoryEntry } from "../agent/records.ts";

export type { BuyRequest, HistoryEntry };

/** The peer's status line on the page (`GET /api/state`'s `status`). */
export interface PageStatus {
  readonly name: string;
  readonly registered: boolean;
  readonly server: string | undefined;
  readonly serverKind: string | undefined;
  readonly features: readonly string[];
  readonly authenticated: boolean;
  readonly keyFingerprint: string;
  readonly serverKeyFingerprint: string | undefined;
  readonly autoBuy: boolean;
  /**
   * Since when the server has not answered (ms since the epoch): a request
   * got no reply after every try, and nothing came from it since.
   */
  readonly notAnsweringSince: number | undefined;
  readonly ports: { readonly udp: number; readonly tcp: number };
  /** Whether this connection may send card data (this machine, or HTTPS). */
  readonly cardDataAllowed: boolean;
}

/** An item for sale, as the page shows it. */
export interface PageItem {
  readonly item: string;
  readonly price: number;
  readonly floor: number | undefined;
  readonly description: string;
  /** How many are left to sell. */
  readonly quantity: number;
  readonly state: "available" | "reserved";
  readonly reservedPrice: number | undefined;
  readonly addedAt: number;
}

/** A question waiting for an answer, as the page shows it. */
export interface PageQuestion {
  readonly about: "FOUND" | "NEGOTIATE" | "CARD" | "EXPIRY" | "ADDRESS";
  readonly rq: string;
  /** The question in words (the terminal's `[y/N]` left out). */
  readonly text: string;
  /** Whether it is the one asked now (only that one takes an answer). */
  readonly asked: boolean;
  readonly item: unknown;
  readonly price: unknown;
  readonly role: unknown;
  readonly seller: unknown;
  /** For payment details: when the server gives up on them (ms since the epoch). */
  readonly deadline?: number;
}

/** What `GET /api/state` answers once the peer runs. */
export interface PageState {
  readonly starting?: false;
  readonly status: PageStatus;
  readonly items: readonly PageItem[];
  readonly requests: readonly BuyRequest[];
  readonly questions: readonly PageQuestion[];
  readonly history: readonly HistoryEntry[];
}

/** What `GET /api/state` answers before the peer runs. */
export interface PageStarting {
  readonly starting: true;
}

/** The data of an `output` event on the page's stream: one printed {@linkcode Output}. */
export interface PageOutput {
  readonly event: string;
  readonly text: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** What an action (`POST /api/...`) answers: done, or why not in words. */
export type PageAnswer = { readonly ok: true } | {
  readonly error: string;
  readonly field?: string;
};
