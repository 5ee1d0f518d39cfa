/**
 * Server-Sent Events: every published event gets an id (`BOOT.N`), the last
 * {@linkcode KEPT_EVENTS} are kept, and a client that reconnects with
 * `Last-Event-ID` gets the ones it missed (a new one, the latest
 * {@linkcode FRESH_EVENTS}). One that missed more than are
 * kept, or that knew an earlier run of the process, first gets a `reset`
 * event: it should fetch the whole state again.
 *
 * Open streams keep an HTTP server's graceful shutdown from finishing, so
 * {@linkcode EventHub.close} ends them first.
 *
 * @module
 */

/** How many events are kept for clients that reconnect. */
export const KEPT_EVENTS = 1000;
/** How many of the latest events a new client (no `Last-Event-ID`) gets. */
export const FRESH_EVENTS = 100;
/** How often an idle stream gets a comment, so proxies and browsers keep it. */
const KEEPALIVE_MS = 15_000;
/** How long a browser waits before it reconnects. */
const RETRY_MS = 1_000;

interface Kept {
  readonly n: number;
  readonly frame: string;
}

const utf8 = new TextEncoder();

/** A fan-out of events to every open stream, with replay after reconnects. */
export class EventHub {
  /** Tells this run's ids from an earlier run's. */
  readonly #boot = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  #next = 1;
  readonly #kept: Kept[] = [];
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** How many streams are open. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Sends an event (a name and JSON data) to every stream, and keeps it. */
  publish(event: string, data: unknown): void {
    if (this.#closed) return;
    const n = this.#next++;
    const frame = `id: ${this.#boot}.${n}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    this.#kept.push({ n, frame });
    if (this.#kept.length > KEPT_EVENTS) this.#kept.shift();
    this.#broadcast(frame);
  }

  /** Sends an event that is not kept (a chart sample, say). */
  flash(event: string, data: unknown): void {
    if (this.#closed) return;
    this.#broadcast(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #broadcast(frame: string): void {
    const bytes = utf8.encode(frame);
    for (const client of this.#clients) {
      try {
        client.enqueue(bytes);
      } catch {
        this.#clients.delete(client);
      }
    }
  }

  /** The frames a client that saw `lastEventId` missed, after a `reset` when needed. */
  #missed(lastEventId: string | null): string[] {
    // A new client gets the latest events, for its log.
    if (lastEventId === null) return this.#kept.slice(-FRESH_EVENTS).map((kept) => kept.frame);
    const [boot, count] = lastEventId.split(".");
    const seen = Number(count);
    const oldest = this.#kept[0]?.n ?? this.#next;
    const reset = `event: reset\ndata: {}\n\n`;
    if (boot !== this.#boot || !Number.isInteger(seen)) {
      return [reset, ...this.#kept.map((kept) => kept.frame)];
    }
    if (seen + 1 < oldest) return [reset, ...this.#kept.map((kept) => kept.frame)];
    return this.#kept.filter((kept) => kept.n > seen).map((kept) => kept.frame);
  }

  /** The `text/event-stream` response for one client. */
  response(request: Request): Response {
    const lastEventId = request.headers.get("last-event-id") ??
      new URL(request.url).searchParams.get("lastEventId");
    let controller: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (control) => {
        controller = control;
        if (this.#closed) return control.close();
        control.enqueue(utf8.encode(`retry: ${RETRY_MS}\n: ${this.#boot}\n\n`));
        for (const frame of this.#missed(lastEventId)) control.enqueue(utf8.encode(frame));
        this.#clients.add(control);
        this.#keepalive ??= setInterval(() => this.#broadcast(": keepalive\n\n"), KEEPALIVE_MS);
      },
      cancel: () => {
        this.#clients.delete(controller);
        this.#idle();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" },
    });
  }

  #idle(): void {
    if (this.#clients.size > 0 || this.#keepalive === undefined) return;
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }

  /** Ends every open stream; later events are dropped. */
  close(): void {
    this.#closed = true;
    for (const client of this.#clients) {
      try {
        client.close();
      } catch {
        // Closed by the client already.
      }
    }
    this.#clients.clear();
    this.#idle();
  }
}
