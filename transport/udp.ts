/**
 * Receiving datagrams, shared by the server and the peer.
 *
 * @module
 */
import type { Address } from "../protocol/mod.ts";

/** Bytes read per datagram; the codec rejects anything over its limit. */
const RECEIVE_BUFFER_BYTES = 2048;

/**
 * Yields each datagram with its sender until the socket is closed. A failed
 * receive (for example an ICMP "unreachable" from a peer that went away)
 * ends that one receive, not the loop.
 */
export async function* datagrams(
  socket: Deno.DatagramConn,
  options: { closing: () => boolean; onError: (error: unknown) => void },
): AsyncGenerator<{ data: Uint8Array; from: Address }> {
  const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
  while (!options.closing()) {
    let received: [Uint8Array, Deno.Addr];
    try {
      received = await socket.receive(buffer);
    } catch (error) {
      if (options.closing()) return;
      options.onError(error);
      continue;
    }
    const { hostname, port } = received[1] as Deno.NetAddr;
    yield { data: received[0], from: { hostname, port } };
  }
}
