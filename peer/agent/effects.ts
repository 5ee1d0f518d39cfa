/**
 * What happens to the agent ({@linkcode PeerEvent}), what it asks its shell
 * to do ({@linkcode PeerEffect}), and the {@linkcode AgentTurn} that
 * collects one event's effects. The turn keeps the rule of
 * `protocol/effects.ts`: an event's saves and deletes come out before any
 * datagram, TCP message or printed line, so nothing announces state that a
 * crash could lose.
 *
 * @module
 */
import type { Address, DecodeError, Message } from "../../protocol/mod.ts";
import { type LogEffect, Turn, type Write } from "../../protocol/effects.ts";
import type { Command } from "../commands.ts";
import type { AgentKey, AgentRecord } from "./records.ts";
import type { KeyInfo } from "./types.ts";

export type { LogLevel } from "../../protocol/effects.ts";

/** A line for the user: readable text, and fields for `--json`. */
export interface Output {
  /** The protocol message name, or a word like `error` or `help`. */
  readonly event: string;
  readonly text: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * What the agent asks its shell to do, in order. Saves and deletes of one
 * event always come first, so a message or a line never announces state
 * that a crash could lose.
 */
export type PeerEffect =
  | { readonly kind: "send"; readonly message: Message }
  /** Writes a message on a TCP connection from the server. */
  | { readonly kind: "tcp-send"; readonly conn: number; readonly message: Message }
  /** Closes a TCP connection; the agent has forgotten it. */
  | { readonly kind: "tcp-close"; readonly conn: number }
  | { readonly kind: "print"; readonly output: Output }
  | Write<AgentRecord>
  | LogEffect
  | { readonly kind: "stop" };

/** What happens to the agent. */
export type PeerEvent =
  /**
   * The shell is ready: restored questions are asked (or bought with
   * auto-buy), and a peer registered with a server that agreed `auth`
   * registers again (signed), which refreshes its address and session.
   */
  | { readonly kind: "start"; readonly at: number }
  /** The time has come for the agent's `nextDeadline()`. */
  | { readonly kind: "tick"; readonly at: number }
  /** A line of input: the answer to a pending question, or a command. */
  | { readonly kind: "line"; readonly text: string; readonly at: number }
  | { readonly kind: "command"; readonly command: Command; readonly at: number }
  | {
    readonly kind: "message";
    readonly from: Address;
    readonly message: Message;
    readonly at: number;
    /**
     * For a REGISTERED that agreed `auth`: the server key whose signature
     * the shell verified (and pinned).
     */
    readonly serverKey?: KeyInfo;
  }
  /**
   * The shell refused the server's answer to REGISTER `rq`: signed by
   * another key than the pinned one, or unsigned from a server whose key is
   * pinned.
   */
  | { readonly kind: "refused"; readonly rq: string; readonly reason: string; readonly at: number }
  | {
    readonly kind: "invalid";
    readonly from: Address;
    readonly error: DecodeError;
    readonly at: number;
    /**
     * The datagram as text, for one from the server whose type is unknown:
     * a classic server's own words (`ERROR: …`).
     */
    readonly text?: string;
  }
  /** A message on TCP connection `conn` (an id the shell gives each connection). */
  | { readonly kind: "tcp"; readonly conn: number; readonly message: Message; readonly at: number }
  /** Something on connection `conn` that does not parse. */
  | {
    readonly kind: "tcp-invalid";
    readonly conn: number;
    readonly error: DecodeError;
    readonly at: number;
  }
  /**
   * A message on connection `conn` without the server's valid MAC: it is
   * not acted on, and no card data answers it.
   */
  | {
    readonly kind: "tcp-unauthenticated";
    readonly conn: number;
    /** Its RQ#, when one could be read. */
    readonly rq?: string;
    readonly why: string;
    readonly at: number;
  }
  /**
   * Connection `conn` is gone, closed by the shell: the server closed it
   * (`remote`), nothing came for too long (`timeout`), or it failed.
   */
  | {
    readonly kind: "tcp-closed";
    readonly conn: number;
    readonly cause: "remote" | "timeout" | "error";
    readonly at: number;
  };

/**
 * One event's handling by the agent: its time, and typed helpers for each
 * effect. Writes are kept apart and come out first ({@linkcode Turn}).
 */
export class AgentTurn extends Turn<PeerEffect> {
  /** A datagram to the server. */
  send(message: Message): void {
    this.emit({ kind: "send", message });
  }

  /** A message on TCP connection `conn`. */
  tcpSend(conn: number, message: Message): void {
    this.emit({ kind: "tcp-send", conn, message });
  }

  /** Closes TCP connection `conn`. */
  tcpClose(conn: number): void {
    this.emit({ kind: "tcp-close", conn });
  }

  /** Stores a record. */
  save(record: AgentRecord): void {
    this.emit({ kind: "save", ...record } as PeerEffect);
  }

  /** Deletes a stored record. */
  delete(key: AgentKey): void {
    this.emit({ kind: "delete", key });
  }

  /** A line for the user, with its `--json` fields. */
  print(event: string, text: string, fields?: Record<string, unknown>): void {
    this.emit({
      kind: "print",
      output: fields === undefined ? { event, text } : { event, text, fields },
    });
  }

  /** A warning for the user; `fields.message` repeats the text. */
  warn(text: string, fields: Record<string, unknown> = {}): void {
    this.print("warning", text, { message: text, ...fields });
  }

  /** An error for the user, such as a command that cannot run now. */
  error(text: string): void {
    this.print("error", `Error: ${text}`, { message: text });
  }

  /** Asks the shell to stop. */
  stop(): void {
    this.emit({ kind: "stop" });
  }
}
