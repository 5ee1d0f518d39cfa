/**
 * A plain UDP socket speaking raw wire text, as a classic peer written in
 * another language would: no project code touches what it sends or reads.
 *
 * @module
 */

/**
 * A raw UDP client on 127.0.0.1, or on another loopback address
 * (127.0.0.2, …) to play another host.
 */
export class RawUdp implements Disposable {
  readonly socket: Deno.DatagramConn;
  readonly #server: Deno.NetAddr;

  constructor(serverPort: number, port = 0, hostname = "127.0.0.1") {
    this.socket = Deno.listenDatagram({ transport: "udp", hostname, port });
    this.#server = { transport: "udp", hostname: "127.0.0.1", port: serverPort };
  }

  /** This socket's port. */
  get port(): number {
    return (this.socket.addr as Deno.NetAddr).port;
  }

  /** Sends text or bytes to the server. */
  async send(data: string | Uint8Array): Promise<void> {
    await this.socket.send(
      typeof data === "string" ? new TextEncoder().encode(data) : data,
      this.#server,
    );
  }

  /**
   * Receives the next datagram as text.
   *
   * @throws {Error} If none arrives within `timeoutMs` (a hang guard).
   */
  async receive(timeoutMs = 10_000): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`No datagram within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const [data] = await Promise.race([this.socket.receive(), timeout]);
      return new TextDecoder().decode(data);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a message and returns the next datagram received. */
  async ask(text: string, timeoutMs?: number): Promise<string> {
    await this.send(text);
    return await this.receive(timeoutMs);
  }

  [Symbol.dispose](): void {
    this.socket.close();
  }
}
