/**
 * The peer's page (`shop peer --web`): a live view of the peer and a way to
 * act on it, beside the line interface.
 *
 * It hooks into the peer only from outside: every action of the page
 * becomes the line a user would type (`sell Lamp 25`, `y`, a card number),
 * fed into the same input stream as standard input (see
 * {@linkcode LineQueue}); every printed {@linkcode Output} is also published
 * on the page's event stream (the same events as `--json`); the state shown
 * is read from the agent's getters. A command's answer waits until the
 * peer handled its line, and carries the error the peer printed for it, so
 * the page shows it beside the form that sent it. Answers name the
 * question they answer, and are dropped when it is no longer the one asked
 * (answered in the terminal, or expired). A payment question shows when
 * the server gives up on it (`paymentTimeoutMs` after it was asked) and
 * can be cancelled; after one was withdrawn while on screen, the page's
 * next line is not the one the peer discards (see {@linkcode PeerPage.command}).
 *
 * Card data is accepted only from this machine or over HTTPS, goes to the
 * agent as input lines (which the peer never logs), and is never echoed,
 * stored or logged by the page.
 *
 * @module
 */
import { type Address, formatAddress } from "../../protocol/mod.ts";
import { formatMoney } from "../../protocol/money.ts";
import type { Output, Question } from "../agent.ts";
import { parseCommand } from "../commands.ts";
import { parseDetail } from "../payment.ts";
import type { ShopPeer } from "../peer.ts";
import { StoreUnavailable } from "../../shell/commit_queue.ts";
import { page, script } from "../../web/assets.ts";
import { EventHub } from "../../web/events.ts";
import { cardDataAllowed } from "../../web/gate.ts";
import { csvFile, json, readJson, type Route, WebServer } from "../../web/server.ts";
import { LineQueue } from "./input.ts";
import type {
  PageAnswer,
  PageOutput,
  PageQuestion,
  PageStarting,
  PageState,
} from "./page_types.ts";
import app from "./app.js" with { type: "text" };
import appLogic from "./app_logic.js" with { type: "text" };
import html from "./index.html" with { type: "text" };

/** Options for {@linkcode PeerPage.start}. */
export interface PeerPageOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The token; a random one by default. */
  readonly token?: string;
  /**
   * How long the server gives a transaction to be paid (its
   * `--transaction-timeout`, 30 s by default): a payment question's
   * countdown runs from when it is asked.
   */
  readonly paymentTimeoutMs?: number;
}

/** The server's `--transaction-timeout` unless the peer is told another. */
export const DEFAULT_PAYMENT_TIMEOUT_MS = 30_000;

/** What a question's prompt said, by `ABOUT RQ`. */
type Prompts = Map<string, Readonly<Record<string, unknown>>>;

/** The line Ctrl-C gives at a payment prompt: it gives the details up. */
const ABORT_LINE = "\u0003";

/** Control characters: never part of a field the page sends. */
const CONTROL = /\p{Cc}/u;

/** Quotes a word for the peer's command line (see `shell_words.ts`). */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_.,:@%+=\/-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * A command's error as the page shows it beside its form: no `Cannot run
 * sell:` before it and no usage line after it (the form is the usage), the
 * argument names in words.
 *
 * @example
 * ```ts
 * pageError('Cannot run sell: PRICE "abc" is not a price: expected a number; usage: sell ITEM PRICE');
 * // 'Price "abc" is not a price: expected a number'
 * ```
 */
export function pageError(error: string): string {
  const text = error.replace(/^Error: /, "").replace(/^Cannot run [a-z-]+: /, "")
    .replace(/; usage: .*$/s, "")
    .replace(/\bMAX_PRICE\b/g, "max price").replace(/\bPRICE\b/g, "price")
    .replace(/\bITEM\b/g, "item");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The terminal's words in a question or message, left out on the page. */
export function pageText(text: string): string {
  return text.replace(/\s*\[y\/N\]\s*$/, "")
    .replace(/\.? The next line you type is still hidden, and discarded$/, "")
    .replace(/\. Type help for commands\.$/, "");
}

/** The page's fields in words, for errors. */
const FIELD_NAMES: Readonly<Record<string, string>> = {
  maxPrice: "max price",
  rq: "question",
};

/** Thrown for a field the page sent that cannot be used. */
class FieldError extends SyntaxError {}

function field(body: Record<string, unknown>, name: string, optional = false): string {
  const value = body[name];
  if ((value === undefined || value === null || value === "") && optional) return "";
  if (typeof value !== "string" && typeof value !== "number") {
    throw new FieldError(`Fill in the ${FIELD_NAMES[name] ?? name}`);
  }
  const text = String(value).trim();
  if (CONTROL.test(text)) throw new FieldError(`The ${name} has control characters`);
  return text;
}

/** A running peer page. */
export class PeerPage implements AsyncDisposable {
  readonly #server: WebServer;
  readonly #hub: EventHub;
  readonly #queue: LineQueue;
  readonly #prompts: Prompts = new Map();
  /** When each transaction's payment question was first asked. */
  readonly #askedAt = new Map<string, number>();
  readonly #paymentTimeoutMs: number;
  /** Outputs of the page's own commands under way, read back into their answers. */
  readonly #captures = new Set<PageOutput[]>();
  /** The `withdrawn` output of the line the page fed to clear a withdrawn secret. */
  #swallow = false;
  #peer: ShopPeer | undefined;
  #serverKeyFingerprint: string | undefined;
  #serverAddress: string | undefined;

  private constructor(
    server: WebServer,
    hub: EventHub,
    queue: LineQueue,
    paymentTimeoutMs: number,
  ) {
    this.#server = server;
    this.#hub = hub;
    this.#queue = queue;
    this.#paymentTimeoutMs = paymentTimeoutMs;
  }

  /**
   * Serves the page. The peer is attached later ({@linkcode attach}): the
   * page's {@linkcode print} must exist before the peer starts.
   */
  static start(options: PeerPageOptions): PeerPage {
    const hub = new EventHub();
    const queue = new LineQueue();
    const made: { page?: PeerPage } = {};
    const routes = routesOf(() => made.page!);
    const server = WebServer.start({
      hostname: options.hostname,
      port: options.port,
      routes,
      assets: { "/": page(html), "/app.js": script(app), "/app_logic.js": script(appLogic) },
      hubs: [hub],
      category: "peer-web",
      ...(options.token ? { token: options.token } : {}),
    });
    return made.page = new PeerPage(
      server,
      hub,
      queue,
      options.paymentTimeoutMs ?? DEFAULT_PAYMENT_TIMEOUT_MS,
    );
  }

  /** The URL to open, with the token. */
  get url(): string {
    return this.#server.url;
  }

  /** The token. */
  get token(): string {
    return this.#server.token;
  }

  /** The page's input lines, to merge with standard input's. */
  get lines(): AsyncIterable<string> {
    return this.#queue;
  }

  /** The peer whose state the page shows. */
  attach(peer: ShopPeer, server: Address): void {
    this.#peer = peer;
    this.#serverAddress = formatAddress(server);
  }

  /** The page's event stream for one client. */
  events(request: Request): Response {
    return this.#hub.response(request);
  }

  /** Publishes one of the peer's outputs on the page's event stream. */
  readonly print = (output: Output): void => {
    const fields = output.fields ?? {};
    if (output.event === "prompt" && typeof fields.about === "string") {
      this.#prompts.set(`${fields.about} ${fields.rq}`, fields);
      if (fields.about === "CARD" && typeof fields.rq === "string") {
        if (!this.#askedAt.has(fields.rq)) this.#askedAt.set(fields.rq, Date.now());
      }
    }
    if (typeof fields.serverKeyFingerprint === "string") {
      this.#serverKeyFingerprint = fields.serverKeyFingerprint;
    }
    if (output.event === "withdrawn" && this.#swallow) {
      // The line the page fed for it: nobody typed anything.
      this.#swallow = false;
      return;
    }
    const data: PageOutput = { event: output.event, text: pageText(output.text), fields };
    for (const capture of this.#captures) capture.push(data);
    this.#hub.publish("output", data);
  };

  /**
   * Feeds one command line of the page's and waits until the peer handled
   * it: the error it printed, if any, is the answer (shown beside the form).
   */
  async command(line: string): Promise<PageAnswer> {
    const captured: PageOutput[] = [];
    const refused = await this.#queue.submit([line], undefined, () => this.#clearWithdrawn());
    if (refused !== undefined) return { error: refused };
    this.#captures.add(captured);
    try {
      // The line is on its way into the peer's event chain: let it get there.
      await new Promise((resolve) => setTimeout(resolve, 0));
      await this.#peer?.idle();
    } finally {
      this.#captures.delete(captured);
    }
    const error = captured.find((output) => output.event === "error");
    if (!error) return { ok: true };
    const message = typeof error.fields.message === "string" ? error.fields.message : error.text;
    return { error: pageError(message) };
  }

  /**
   * Feeds answer lines for a question, checked when their turn comes.
   *
   * @returns Why they were not fed, or `undefined`.
   */
  answer(lines: readonly string[], about: string, rq: string): Promise<string | undefined> {
    return this.#queue.submit(lines, () => this.notAsked(about, rq));
  }

  /**
   * A line to feed first when a payment question was withdrawn while on
   * screen: the peer then discards the next line (it may be a card number
   * typed in the terminal), and the page's command must not be that line.
   */
  #clearWithdrawn(): readonly string[] {
    const agent = this.#peer?.agent;
    if (!agent?.paymentPrompt) return [];
    const head = agent.questions[0];
    if (head && (head.about === "CARD" || head.about === "EXPIRY" || head.about === "ADDRESS")) {
      return [];
    }
    this.#swallow = true;
    return [""];
  }

  /**
   * The state the page shows, read from the agent once its writes are
   * stored: a state the store does not hold yet (a commit being tried
   * again on a full disk) is never shown.
   *
   * @throws {StoreUnavailable} If the peer's store failed past the bound.
   */
  async state(remote: Deno.NetAddr, secure: boolean): Promise<PageState | PageStarting> {
    const peer = this.#peer;
    if (!peer) return { starting: true };
    await peer.settled();
    const agent = peer.agent;
    const questions = agent.questions;
    // Forget prompts of questions that are gone.
    const open = new Set(questions.map((question) => `${question.about} ${question.rq}`));
    for (const id of this.#prompts.keys()) if (!open.has(id)) this.#prompts.delete(id);
    const paying = new Set(questions.map((question) => question.rq));
    for (const rq of this.#askedAt.keys()) if (!paying.has(rq)) this.#askedAt.delete(rq);
    return {
      status: {
        name: peer.name,
        registered: agent.registered,
        server: this.#serverAddress,
        serverKind: agent.serverKind,
        features: agent.features,
        authenticated: agent.authenticated,
        keyFingerprint: peer.key.fingerprint,
        serverKeyFingerprint: this.#serverKeyFingerprint,
        autoBuy: agent.autoBuy,
        notAnsweringSince: agent.serverSilentSince,
        ports: peer.ports,
        cardDataAllowed: cardDataAllowed(remote.hostname, secure),
      },
      items: agent.items.map((item) => ({
        item: item.item,
        price: item.price,
        floor: item.floor,
        description: item.description,
        quantity: item.quantity ?? 1,
        state: item.reservedFor === undefined ? "available" : "reserved",
        reservedPrice: item.reservedPrice,
        addedAt: item.addedAt,
      })),
      requests: agent.requests,
      questions: questions.map((question, index) => this.#question(question, index === 0)),
      history: agent.history,
    };
  }

  #question(question: Question, first: boolean): PageQuestion {
    const prompt = this.#prompts.get(`${question.about} ${question.rq}`);
    const request = this.#peer!.agent.requests.find((r) => r.rq === question.rq);
    const text = typeof prompt?.question === "string"
      ? prompt.question
      : question.about === "FOUND" && request
      ? `Buy ${request.foundItem ?? request.item} for ${formatMoney(request.price ?? 0)}?`
      : `${question.about} ${question.rq}`;
    const askedAt = this.#askedAt.get(question.rq);
    return {
      about: question.about,
      rq: question.rq,
      text: pageText(text),
      // Only the question on screen takes the next line.
      asked: first && prompt !== undefined,
      item: prompt?.item,
      price: prompt?.price ?? prompt?.maxPrice,
      role: prompt?.role,
      seller: prompt?.seller,
      ...(askedAt === undefined ? {} : { deadline: askedAt + this.#paymentTimeoutMs }),
    };
  }

  /** Why `question` cannot be answered now, or `undefined`. */
  notAsked(about: string, rq: string): string | undefined {
    const head = this.#peer?.agent.questions[0];
    const asked = head?.about === about && head.rq === rq &&
      this.#prompts.has(`${about} ${rq}`);
    if (asked) return undefined;
    const waiting = this.#peer?.agent.questions.some((q) => q.about === about && q.rq === rq);
    return waiting
      ? "Answer the question before it first"
      : "This question is no longer open: it was answered in the terminal, or it expired";
  }

  /** The payment question of `rq` on screen (CARD, EXPIRY or ADDRESS), if one is. */
  askedPayment(rq: string): string | undefined {
    const head = this.#peer?.agent.questions[0];
    if (!head || head.rq !== rq || !this.#prompts.has(`${head.about} ${rq}`)) return undefined;
    return head.about === "CARD" || head.about === "EXPIRY" || head.about === "ADDRESS"
      ? head.about
      : undefined;
  }

  /** The history as CSV rows, header first. */
  historyRows(): unknown[][] {
    const rows: unknown[][] = [[
      "time",
      "role",
      "item",
      "price",
      "fee",
      "seller_got",
      "counterpart",
      "ship_to",
      "tx",
    ]];
    for (const entry of this.#peer?.agent.history ?? []) {
      rows.push([
        new Date(entry.at).toISOString(),
        entry.role === "seller" ? "sold" : "bought",
        entry.item,
        entry.price.toFixed(2),
        entry.fee.toFixed(2),
        entry.credit.toFixed(2),
        entry.counterparty ?? "",
        entry.address ?? "",
        entry.tx,
      ]);
    }
    return rows;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#queue.close();
    await this.#server[Symbol.asyncDispose]();
  }
}

/** The page's API routes. */
function routesOf(self: () => PeerPage): Record<string, Route> {
  /** Feeds one command line, after checking that it parses as `name`. */
  const command = async (line: string, name: string): Promise<Response> => {
    const parsed = parseCommand(line);
    if (!parsed.ok) return json({ error: pageError(parsed.error) }, 400);
    if (parsed.command?.name !== name) return json({ error: `Not a ${name} command` }, 400);
    const answer = await self().command(line);
    return json(answer, "error" in answer ? 409 : 200);
  };
  const body = async (request: Request) => {
    try {
      return await readJson(request);
    } catch (error) {
      throw error instanceof SyntaxError ? new FieldError(error.message) : error;
    }
  };
  /** The words of a description field, each quoted; `keep` sends an empty one too. */
  const words = (text: string, keep = false) => {
    const list = text.split(/\s+/).filter(Boolean).map(quoteWord);
    return list.length === 0 && keep ? ["''"] : list;
  };
  /** The answer to a question: fed when it is still the one asked. */
  const answer = async (lines: string[], about: string, rq: string): Promise<Response> => {
    const now = self().notAsked(about, rq);
    if (now) return json({ error: now }, 409);
    const refused = await self().answer(lines, about, rq);
    return refused === undefined ? json({ ok: true }) : json({ error: refused }, 409);
  };
  return {
    "GET /api/state": async ({ remote, secure }) => {
      try {
        return json(await self().state(remote, secure));
      } catch (error) {
        if (error instanceof StoreUnavailable) return json({ error: error.message }, 503);
        throw error;
      }
    },
    "GET /api/events": ({ request }) => self().events(request),
    "GET /api/history.csv": () => csvFile("history.csv", self().historyRows()),
    "POST /api/register": () => command("register", "register"),
    "POST /api/deregister": () => command("deregister", "deregister"),
    "POST /api/auto-buy": async ({ request }) => {
      const on = (await body(request)).on === true;
      return command(`set auto-buy ${on ? "on" : "off"}`, "set");
    },
    "POST /api/sell": async ({ request }) => {
      const fields = await body(request);
      const floor = field(fields, "floor", true);
      const quantity = field(fields, "quantity", true);
      const line = [
        "sell",
        quoteWord(field(fields, "item")),
        quoteWord(field(fields, "price")),
        ...words(field(fields, "description", true)),
        ...(floor ? ["--floor", quoteWord(floor)] : []),
        ...(quantity ? ["--quantity", quoteWord(quantity)] : []),
      ].join(" ");
      return command(line, "sell");
    },
    "POST /api/edit": async ({ request }) => {
      const fields = await body(request);
      const floor = field(fields, "floor", true);
      const quantity = field(fields, "quantity", true);
      const line = [
        "edit",
        quoteWord(field(fields, "item")),
        quoteWord(field(fields, "price")),
        ...words(field(fields, "description", true), true),
        ...(floor ? ["--floor", quoteWord(floor)] : ["--no-floor"]),
        ...(quantity ? ["--quantity", quoteWord(quantity)] : []),
      ].join(" ");
      return command(line, "edit");
    },
    "POST /api/browse": async ({ request }) => {
      const prefix = field(await body(request), "prefix", true).trim();
      return command(prefix === "" ? "browse" : `browse ${quoteWord(prefix)}`, "browse");
    },
    "POST /api/unsell": async ({ request }) =>
      command(`unsell ${quoteWord(field(await body(request), "item"))}`, "unsell"),
    "POST /api/buy": async ({ request }) => {
      const fields = await body(request);
      const line = [
        "buy",
        quoteWord(field(fields, "item")),
        quoteWord(field(fields, "maxPrice")),
        ...words(field(fields, "description", true)),
      ].join(" ");
      return command(line, "buy");
    },
    "POST /api/answer": async ({ request }) => {
      const fields = await body(request);
      const about = field(fields, "about");
      const rq = field(fields, "rq");
      if (about !== "FOUND" && about !== "NEGOTIATE") {
        return json({ error: "Only FOUND and NEGOTIATE questions take yes or no" }, 400);
      }
      return answer([fields.yes === true ? "y" : "n"], about, rq);
    },
    "POST /api/payment": async ({ request, remote, secure }) => {
      if (!cardDataAllowed(remote.hostname, secure)) {
        return json({
          error: "Card data is accepted only from this machine or over HTTPS: " +
            "open the page on the peer's machine, or type the details in its terminal",
        }, 403);
      }
      const fields = await body(request);
      const rq = field(fields, "rq");
      const lines: string[] = [];
      for (const detail of ["card", "expiry", "address"] as const) {
        const checked = parseDetail(detail, field(fields, detail));
        // The error names the detail, never its value.
        if (!checked.ok) return json({ error: pageError(checked.error), field: detail }, 400);
        lines.push(checked.value);
      }
      return answer(lines, "CARD", rq);
    },
    "POST /api/payment/cancel": async ({ request }) => {
      const rq = field(await body(request), "rq");
      const about = self().askedPayment(rq);
      if (!about) {
        return json({
          error: "This payment question is no longer open: it was answered, or withdrawn",
        }, 409);
      }
      // What Ctrl-C at the terminal's payment prompt sends: the transaction is cancelled.
      return answer([ABORT_LINE], about, rq);
    },
  };
}
