/**
 * What one frame read on the peer's TCP port is to the agent, and whether
 * it authenticates its connection: no I/O, so it is tested from bytes.
 *
 * @module
 */
import { decode } from "../protocol/mod.ts";
import type { PeerEvent } from "./agent.ts";
import { rqOf, type TcpSession } from "./guard.ts";

/** What the TCP port tells the agent. */
export type TcpEvent = Extract<
  PeerEvent,
  { kind: "tcp" | "tcp-invalid" | "tcp-unauthenticated" | "tcp-closed" }
>;

const utf8Text = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads one frame of connection `conn`. Over TLS (our server, `session`
 * given) it must carry the session's MAC: without it, it is never acted
 * on, and it does not authenticate the connection. Over plain TCP (a
 * classic server) a frame authenticates its connection when it parses.
 *
 * @returns The event for the agent, and whether the frame authenticates
 *   the connection it came on.
 */
export function frameEvent(
  conn: number,
  frame: Uint8Array,
  options: { session: TcpSession | undefined; at: number },
): { event: Exclude<TcpEvent, { kind: "tcp-closed" }>; authentic: boolean } {
  const { session, at } = options;
  let body: Uint8Array | string = frame;
  if (session) {
    let text: string;
    try {
      text = utf8Text.decode(frame);
    } catch {
      return {
        event: { kind: "tcp-unauthenticated", conn, why: "not UTF-8", at },
        authentic: false,
      };
    }
    const opened = session.open(text);
    if (!opened.ok) {
      const rq = rqOf(text);
      return {
        event: { kind: "tcp-unauthenticated", conn, why: opened.why, at, ...(rq ? { rq } : {}) },
        authentic: false,
      };
    }
    body = opened.text;
  }
  const result = decode(body, { channel: "tcp" });
  if (!result.ok) {
    // A frame with the server's valid MAC proves the connection even when
    // its message is one we cannot read.
    return { event: { kind: "tcp-invalid", conn, error: result.error, at }, authentic: !!session };
  }
  return { event: { kind: "tcp", conn, message: result.message, at }, authentic: true };
}
