/**
 * The rules of REGISTER: who is admitted under a name, with which
 * extensions, and what a repeat or a returning key-holder gets. Pure: the
 * market applies the decision (the registry, the write, the reply).
 *
 * @module
 */
import type { Message, MessageOf } from "../protocol/mod.ts";
import { ExtensionSet } from "../protocol/extensions.ts";
import type { MessageEvent } from "./market_turn.ts";
import type { RegisteredPeer } from "./records.ts";
import { type Registry, sameRegistration } from "./registry.ts";

/** What a REGISTER leads to. */
export type Admission =
  | { readonly kind: "deny"; readonly reason: string }
  /** A repeated REGISTER (a lost reply, a retransmission): confirm it, change nothing. */
  | { readonly kind: "confirm" }
  /** A new peer, or the holder of a name's key coming back (`replaces` is its old record). */
  | { readonly kind: "admit"; readonly peer: RegisteredPeer; readonly replaces?: RegisteredPeer };

/** Options for {@linkcode admit}. */
export interface AdmitOptions {
  /** The extensions the server speaks; `auth` is agreed only for a signed registration. */
  readonly extensions: ExtensionSet;
  /** Admit classic (unsigned) peers. */
  readonly allowPlaintext: boolean;
  /** Most peers registered at once. */
  readonly maxPeers: number;
  /** Names per IP, classic names per IP and names per key (0: no cap). */
  readonly namesPerHost: number;
  readonly classicNamesPerHost: number;
  readonly namesPerKey: number;
}

/**
 * Decides a REGISTER.
 *
 * @returns The decision, and the REGISTERED reply it confirms with.
 */
export function admit(
  registry: Registry,
  event: MessageEvent,
  message: MessageOf<"REGISTER">,
  options: AdmitOptions,
): { admission: Admission; registered: Message } {
  const { registration } = event;
  // Absent for a classic peer; our peers get what both sides speak.
  const extensions = message.extensions &&
    ExtensionSet.from(message.extensions).intersect(options.extensions).toArray()
      .filter((word) => word !== "auth" || registration !== undefined);
  const registered: Message = {
    type: "REGISTERED",
    rq: message.rq,
    ...(extensions ? { extensions } : {}),
  };
  const deny = (reason: string) => ({ admission: { kind: "deny", reason } as const, registered });
  if (!registration && !options.allowPlaintext) {
    // Short first words: a reply to an unknown address is cut to the
    // request's length, and "auth required" survives the cut.
    return deny(
      "auth required: this server admits only authenticated peers (start it with --allow-plaintext for classic ones)",
    );
  }
  const existing = registry.get(message.name);
  // Our peer sends a classic REGISTER beside its first one when that goes
  // unanswered: if the classic one was admitted first, the one with
  // extensions from the very same source takes its place.
  const upgrades = existing !== undefined && !existing.auth && existing.extensions === undefined &&
    message.extensions !== undefined && sameRegistration(existing, message, event.from);
  if (existing && !upgrades) {
    if (registration && existing.auth?.key !== registration.proof.key) {
      return deny(`name ${message.name} is bound to another key`);
    }
    if (!registration) {
      if (existing.auth || !sameRegistration(existing, message, event.from)) {
        return deny(`name ${message.name} in use`);
      }
      // The reply says what the server keeps: the first REGISTER's
      // extensions, whatever this copy offered (a peer that sent a classic
      // REGISTER beside one with extensions learns which one counts).
      const kept: Message = {
        type: "REGISTERED",
        rq: message.rq,
        ...(existing.extensions ? { extensions: [...existing.extensions] } : {}),
      };
      return { admission: { kind: "confirm" }, registered: kept };
    }
  } else if (!existing && registry.size >= options.maxPeers) {
    return deny(`the server is full (${options.maxPeers} peers)`);
  }
  // A new name (or one moving to another host) counts against its host,
  // and a new name against its key.
  const host = event.from.hostname;
  const movesHere = !existing || existing.source.hostname !== host;
  if (movesHere) {
    const held = registry.namesAt(host);
    if (options.namesPerHost > 0 && held.all >= options.namesPerHost) {
      return deny(`too many names from ${host} (${options.namesPerHost})`);
    }
    if (
      !registration && options.classicNamesPerHost > 0 &&
      held.classic >= options.classicNamesPerHost
    ) {
      return deny(`too many classic names from ${host} (${options.classicNamesPerHost})`);
    }
  }
  if (
    registration && !existing && options.namesPerKey > 0 &&
    registry.namesOfKey(registration.proof.key) >= options.namesPerKey
  ) {
    return deny(`too many names for this key (${options.namesPerKey})`);
  }
  const peer: RegisteredPeer = {
    name: message.name,
    ip: message.ip,
    udpPort: message.udpPort,
    tcpPort: message.tcpPort,
    source: event.from,
    // The holder of the key coming back (restarted, or from a new
    // address) keeps its place in the searches it was asked in.
    registeredAt: existing?.registeredAt ?? event.at,
    ...(extensions ? { extensions } : {}),
    ...(registration
      ? {
        auth: {
          key: registration.proof.key,
          ca: registration.proof.ca,
          keys: registration.keys,
          ...(registration.proof.ts === undefined ? {} : { ts: registration.proof.ts }),
        },
      }
      : {}),
  };
  return {
    admission: { kind: "admit", peer, ...(existing ? { replaces: existing } : {}) },
    registered,
  };
}

/** The log line of an admitted peer. */
export function describeAdmission(peer: RegisteredPeer, returning: boolean): string {
  const where = `${peer.source.hostname} (UDP ${peer.udpPort}, TCP ${peer.tcpPort})`;
  if (returning) return `${peer.name} proved its key and is now at ${where}`;
  const extensions = peer.extensions;
  return `Registered ${peer.name} at ${where}${
    extensions ? `, extensions: shop/1 ${extensions.join(" ")}` : ", classic"
  }`;
}
