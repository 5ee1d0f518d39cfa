/**
 * The one place where the machines' effects are read: the market's and the
 * agent's effect shapes are turned into the simulator's own small set of
 * actions. Both machines speak the vocabulary of protocol/effects.ts;
 * when an effect changes shape, only this file changes.
 *
 * @module
 */
import type { Address, Message } from "../protocol/mod.ts";
import type { Effect } from "../server/market.ts";
import { sendPort } from "../server/registry.ts";
import type { Conclusion, TransactionPlan } from "../server/transaction.ts";
import type { Output, PeerEffect } from "../peer/agent.ts";

/** A stored record's key, as both machines write it. */
export type RecordKey = readonly Deno.KvKeyPart[];

/** What a machine asked for, in the simulator's terms. */
export type Action =
  /** Store (`value` given) or delete (`value` absent) a record. */
  | { readonly kind: "write"; readonly key: RecordKey; readonly value?: unknown }
  /** A datagram: to `to` from the market, to the server from an agent. */
  | { readonly kind: "udp"; readonly to?: Address; readonly message: Message }
  | { readonly kind: "tcp-send"; readonly conn: number; readonly message: Message }
  | { readonly kind: "tcp-close"; readonly conn: number }
  | { readonly kind: "print"; readonly output: Output }
  | { readonly kind: "log"; readonly level: string; readonly text: string }
  | { readonly kind: "transact"; readonly request: string; readonly plan: TransactionPlan }
  | {
    readonly kind: "conclude";
    readonly request: string;
    readonly plan: TransactionPlan;
    readonly conclusion: Conclusion;
    readonly deliver: readonly ("seller" | "buyer")[];
  };

/** The market's effects as actions, in order. */
export function marketActions(effects: readonly Effect[]): Action[] {
  return effects.flatMap((effect): Action | Action[] => {
    switch (effect.kind) {
      case "fanout":
        return effect.peers.map((peer): Action => ({
          kind: "udp",
          to: { hostname: peer.source.hostname, port: sendPort(peer) },
          message: effect.message,
        }));
      case "save":
        return { kind: "write", key: effect.key, value: effect.value };
      case "delete":
        return { kind: "write", key: effect.key };
      case "send":
        // `limit` bounds replies to unregistered sources; every simulated
        // sender is a peer of ours, whose replies are small.
        return { kind: "udp", to: effect.to, message: effect.message };
      case "log":
        return { kind: "log", level: effect.level, text: effect.text };
      case "transact":
        return { kind: "transact", request: effect.request, plan: effect.plan };
      case "conclude":
        return {
          kind: "conclude",
          request: effect.request,
          plan: effect.plan,
          conclusion: effect.conclusion,
          deliver: effect.deliver,
        };
    }
  });
}

/** An agent's effects as actions, in order; `stop` is dropped (no agent quits here). */
export function agentActions(effects: readonly PeerEffect[]): Action[] {
  const actions: Action[] = [];
  for (const effect of effects) {
    switch (effect.kind) {
      case "save":
        actions.push({ kind: "write", key: effect.key, value: effect.value });
        break;
      case "delete":
        actions.push({ kind: "write", key: effect.key });
        break;
      case "send":
        actions.push({ kind: "udp", message: effect.message });
        break;
      case "tcp-send":
        actions.push({ kind: "tcp-send", conn: effect.conn, message: effect.message });
        break;
      case "tcp-close":
        actions.push({ kind: "tcp-close", conn: effect.conn });
        break;
      case "print":
        actions.push({ kind: "print", output: effect.output });
        break;
      case "log":
        actions.push({ kind: "log", level: effect.level, text: effect.text });
        break;
      case "stop":
        break;
    }
  }
  return actions;
}
