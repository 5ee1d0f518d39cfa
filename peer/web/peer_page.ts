/**
 * The peer's page (`shop peer --web`): a live view of the peer and a way to
 * act on it, beside the line interface.
 *
 * It hooks into the peer only from outside: every action of the page
 * becomes the line a user would type (`sell Lamp 25`, `y`, a card number),
 * fed into the same input stream as standard input (see
 * {@linkcode LineQueue}); every printed {@linkcode Output} is also published
 * on the page's event stream (the same events as `--json`); the state shown
 * is read from the agent's getters. Answers name the question they answer,
 * and are dropped when it is no longer the one asked (answered in the
 * terminal, or expired).
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
import app from "./app.js" with { type: "text" };
import html from "./index.html" with { type: "text" };

/** Options for {@linkcode PeerPage.start}. */
export interface PeerPageOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The token; a random one by default. */
  readonly token?: string;
}

/** What a question's prompt said, by `ABOUT RQ`. */
type Prompts = Map<string, Readonly<Record<string, unknown>>>;

/** Control characters: never part of a field the page sends. */
const CONTROL = /\p{Cc}/u;

/** Quotes a word for the peer's command line (see `shell_words.ts`). */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_.,:@%+=\/-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Thrown for a field the page sent that cannot be used. */
class FieldError extends SyntaxError {}

function field(body: Record<string, unknown>, name: string, optional = false): string {
  const value = body[name];
  if ((value === undefined || value === null || value === "") && optional) return "";
  if (typeof value !== "string" && typeof value !== "number") {
    throw new FieldError(`Missing ${name}`);
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
  #peer: ShopPeer | undefined;
  #serverKeyFingerprint: string | undefined;
  #serverAddress: string | undefined;

  private constructor(server: WebServer, hub: EventHub, queue: LineQueue, prompts: Prompts) {
    this.#server = server;
    this.#hub = hub;
    this.#queue = queue;
    this.#prompts = prompts;
  }

  /**
   * Serves the page. The peer is attached later ({@linkcode attach}): the
   * page's {@linkcode print} must exist before the peer starts.
   */
  static start(options: PeerPageOptions): PeerPage {
    const hub = new EventHub();
    const queue = new LineQueue();
    const prompts: Prompts = new Map();
    const made: { page?: PeerPage } = {};
    const routes = routesOf(() => made.page!, queue);
    const server = WebServer.start({
      hostname: options.hostname,
      port: options.port,
      routes,
      assets: { "/": page(html), "/app.js": script(app) },
      hubs: [hub],
      category: "peer-web",
      ...(options.token ? { token: options.token } : {}),
    });
    return made.page = new PeerPage(server, hub, queue, prompts);
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
    }
    if (typeof fields.serverKeyFingerprint === "string") {
      this.#serverKeyFingerprint = fields.serverKeyFingerprint;
    }
    this.#hub.publish("output", { event: output.event, text: output.text, fields });
  };

  /**
   * The state the page shows, read from the agent once its writes are
   * stored: a state the store does not hold yet (a commit being tried
   * again on a full disk) is never shown.
   *
   * @throws {StoreUnavailable} If the peer's store failed past the bound.
   */
  async state(remote: Deno.NetAddr, secure: boolean): Promise<Record<string, unknown>> {
    const peer = this.#peer;
    if (!peer) return { starting: true };
    await peer.settled();
    const agent = peer.agent;
    const questions = agent.questions;
    // Forget prompts of questions that are gone.
    const open = new Set(questions.map((question) => `${question.about} ${question.rq}`));
    for (const id of this.#prompts.keys()) if (!open.has(id)) this.#prompts.delete(id);
    return {
      status: {
        registered: agent.registered,
        server: this.#serverAddress,
        serverKind: agent.serverKind,
        features: agent.features,
        authenticated: agent.authenticated,
        keyFingerprint: peer.key.fingerprint,
        serverKeyFingerprint: this.#serverKeyFingerprint,
        autoBuy: agent.autoBuy,
        ports: peer.ports,
        cardDataAllowed: cardDataAllowed(remote.hostname, secure),
      },
      items: agent.items.map((item) => ({
        item: item.item,
        price: item.price,
        floor: item.floor,
        description: item.description,
        state: item.reservedFor === undefined ? "available" : "reserved",
        reservedPrice: item.reservedPrice,
        addedAt: item.addedAt,
      })),
      requests: agent.requests,
      questions: questions.map((question, index) => this.#question(question, index === 0)),
      history: agent.history,
    };
  }

  #question(question: Question, first: boolean): Record<string, unknown> {
    const prompt = this.#prompts.get(`${question.about} ${question.rq}`);
    const request = this.#peer!.agent.requests.find((r) => r.rq === question.rq);
    const text = typeof prompt?.question === "string"
      ? prompt.question
      : question.about === "FOUND" && request
      ? `Buy ${request.foundItem ?? request.item} for ${formatMoney(request.price ?? 0)}?`
      : `${question.about} ${question.rq}`;
    return {
      about: question.about,
      rq: question.rq,
      text,
      // Only the question on screen takes the next line.
      asked: first && prompt !== undefined,
      item: prompt?.item,
      price: prompt?.price ?? prompt?.maxPrice,
      role: prompt?.role,
      seller: prompt?.seller,
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
function routesOf(self: () => PeerPage, queue: LineQueue): Record<string, Route> {
  /** Feeds one command line, after checking that it parses as `name`. */
  const command = async (line: string, name: string): Promise<Response> => {
    const parsed = parseCommand(line);
    if (!parsed.ok) return json({ error: parsed.error }, 400);
    if (parsed.command?.name !== name) return json({ error: `Not a ${name} command` }, 400);
    const refused = await queue.submit([line]);
    return refused === undefined ? json({ ok: true }) : json({ error: refused }, 409);
  };
  const body = async (request: Request) => {
    try {
      return await readJson(request);
    } catch (error) {
      throw error instanceof SyntaxError ? new FieldError(error.message) : error;
    }
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
      const line = [
        "sell",
        quoteWord(field(fields, "item")),
        quoteWord(field(fields, "price")),
        ...field(fields, "description", true).split(/\s+/).filter(Boolean).map(quoteWord),
        ...(floor ? ["--floor", quoteWord(floor)] : []),
      ].join(" ");
      return command(line, "sell");
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
        ...field(fields, "description", true).split(/\s+/).filter(Boolean).map(quoteWord),
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
      const now = self().notAsked(about, rq);
      if (now) return json({ error: now }, 409);
      const refused = await queue.submit(
        [fields.yes === true ? "y" : "n"],
        () => self().notAsked(about, rq),
      );
      return refused === undefined ? json({ ok: true }) : json({ error: refused }, 409);
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
        if (!checked.ok) return json({ error: checked.error, field: detail }, 400);
        lines.push(checked.value);
      }
      const now = self().notAsked("CARD", rq);
      if (now) return json({ error: now }, 409);
      const refused = await queue.submit(lines, () => self().notAsked("CARD", rq));
      return refused === undefined ? json({ ok: true }) : json({ error: refused }, 409);
    },
  };
}
