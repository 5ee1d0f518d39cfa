/**
 * Raw UDP sockets on 127.0.0.1 for the load generator: a pool of sockets,
 * each with a receive loop, speaking wire text directly (as a classic peer
 * in another language would; no project code touches the traffic).
 *
 * @module
 */

const utf8 = new TextEncoder();
const text = new TextDecoder();
/** Receive errors in a row after which a socket's loop gives up. */
const MAX_RECEIVE_ERRORS = 100;

/** Called with each datagram's text, the receiving socket's index and the time it was read. */
export type DatagramListener = (message: string, socket: number, at: number) => void;

/** A pool of UDP sockets bound to 127.0.0.1 on free ports. */
export class UdpPool implements AsyncDisposable {
  readonly #sockets: Deno.DatagramConn[] = [];
  readonly #listeners = new Set<DatagramListener>();
  readonly #loops: Promise<void>[] = [];
  #closed = false;
  /** Datagrams received in all. */
  received = 0;

  /**
   * Opens `size` sockets.
   *
   * @throws {Deno.errors} If the process runs out of file descriptors.
   */
  constructor(size: number) {
    try {
      for (let i = 0; i < size; i++) {
        this.#sockets.push(
          Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
        );
      }
    } catch (error) {
      for (const socket of this.#sockets) socket.close();
      throw error;
    }
    this.#sockets.forEach((socket, index) => this.#loops.push(this.#receive(socket, index)));
  }

  /** How many sockets. */
  get size(): number {
    return this.#sockets.length;
  }

  /** The port of socket `index`. */
  port(index: number): number {
    return (this.#sockets[index]!.addr as Deno.NetAddr).port;
  }

  /** Adds a listener for every datagram; returns a function that removes it. */
  listen(listener: DatagramListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends text from socket `index` to 127.0.0.1:`port`. */
  send(index: number, message: string, port: number): Promise<number> {
    return this.#sockets[index]!.send(utf8.encode(message), {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
  }

  async #receive(socket: Deno.DatagramConn, index: number): Promise<void> {
    const buffer = new Uint8Array(2048);
    let errors = 0;
    while (!this.#closed && errors < MAX_RECEIVE_ERRORS) {
      let data: Uint8Array;
      try {
        [data] = await socket.receive(buffer);
      } catch {
        errors++;
        continue;
      }
      errors = 0;
      this.received++;
      const at = performance.now();
      const message = text.decode(data);
      for (const listener of this.#listeners) listener(message, index, at);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#sockets) socket.close();
    await Promise.all(this.#loops);
  }
}

/** The first two words of a message: its type and its RQ#. */
export function head(message: string): [type: string, rq: string] {
  const first = message.indexOf(" ");
  if (first < 0) return [message.trim(), ""];
  const second = message.indexOf(" ", first + 1);
  return [
    message.slice(0, first),
    (second < 0 ? message.slice(first + 1) : message.slice(first + 1, second)).trim(),
  ];
}
