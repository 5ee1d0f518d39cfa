/**
 * A classic P2S2 peer played from raw sockets, as one written in another
 * language would be: a UDP socket for the server's datagrams and a TCP
 * listener for the transaction, reading with one `read` per message and
 * writing one message per write, without newlines. No project code touches
 * its traffic.
 *
 * @module
 */
import { RawUdp } from "./_udp.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** A classic peer's sockets. */
export class ClassicPeer implements AsyncDisposable {
  readonly udp: RawUdp;
  readonly tcp: Deno.TcpListener;

  constructor(readonly name: string, serverPort: number) {
    this.udp = new RawUdp(serverPort);
    this.tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  }

  /** Registers the classic way and returns the reply. */
  register(rq = "1"): Promise<string> {
    return this.udp.ask(
      `REGISTER ${rq} ${this.name} 127.0.0.1 ${this.udp.port} ${this.tcp.addr.port}`,
    );
  }

  /** Receives datagrams until one starts with `type`, skipping others (e.g. SEARCH). */
  async expect(type: string, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const message = await this.udp.receive(Math.max(deadline - Date.now(), 1));
      if (message.split(" ")[0] === type) return message.split(" ");
    }
  }

  /**
   * Accepts the server's transaction connection, reads INFORM_Req with one
   * read, answers INFORM_Res with one write (optionally in two pieces), and
   * reads what follows until the server closes or `follow` messages came.
   */
  async transact(
    details: { card: string; expiry: string; address: string },
    options: { pieces?: boolean; answer?: boolean } = {},
  ): Promise<{ request: string[]; after: string[] }> {
    using conn = await withTimeout(this.tcp.accept(), 15_000, "no transaction connection");
    const buffer = new Uint8Array(1024);
    const count = await withTimeout(conn.read(buffer), 15_000, "no INFORM_Req");
    const request = text.decode(buffer.subarray(0, count ?? 0)).split(" ");
    const after: string[] = [];
    if (options.answer !== false) {
      const reply = `INFORM_Res ${
        request[1]
      } ${this.name} ${details.card} ${details.expiry} ${details.address}`;
      if (options.pieces) {
        const cut = reply.length - 6;
        await conn.write(utf8.encode(reply.slice(0, cut)));
        await new Promise((resolve) => setTimeout(resolve, 15));
        await conn.write(utf8.encode(reply.slice(cut)));
      } else {
        await conn.write(utf8.encode(reply));
      }
    }
    while (true) {
      const got = await withTimeout(
        conn.read(buffer),
        40_000,
        "the server neither wrote nor closed",
      )
        .catch(() => null);
      if (got === null) break;
      after.push(text.decode(buffer.subarray(0, got)));
    }
    return { request, after };
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.udp[Symbol.dispose]();
    this.tcp.close();
    return Promise.resolve();
  }
}

/** Rejects if the promise takes longer than `ms` (a hang guard for tests). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
