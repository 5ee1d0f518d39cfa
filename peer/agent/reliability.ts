/**
 * Requests to the server are sent again, with the same RQ#, until their
 * answer comes: REGISTER and DE-REGISTER always, the others when our server
 * agreed `ack` (a classic one would see duplicates). What our server sends
 * again until acknowledged is acknowledged here, duplicates included.
 *
 * @module
 */
import {
  ACKED_REQUESTS,
  formatAddress,
  type Message,
  type MessageOf,
  RELIABLE_SENDS,
} from "../../protocol/mod.ts";
import type { AgentTurn } from "./effects.ts";
import { released } from "./records.ts";
import {
  FALLBACK_AFTER_TRIES,
  fallBackToClassic,
  registering,
  sendRegister,
  UNSIGNED_REFUSED,
} from "./registration.ts";
import { recordPurchase } from "./transactions.ts";
import { heardForUnsettled, nextUnsettledDeadline, releaseUnsettled } from "./settlement.ts";
import { type AgentState, legOpen, putItem, updateRequest } from "./state.ts";

/**
 * Keeps a request just sent to send again until its answer: REGISTER and
 * DE-REGISTER always (their replies end them), the others only when the
 * server agreed `ack`. One already awaited keeps its original timing.
 */
export function track(state: AgentState, message: Message, at: number): void {
  const tracked = message.type === "REGISTER" || message.type === "DE-REGISTER" ||
    (ACKED_REQUESTS.has(message.type) && state.extensions.has("ack"));
  if (tracked) state.unacked.track(`${message.type} ${message.rq}`, message, "server", at);
}

/** Acknowledges what our server sends again until acknowledged, duplicates included. */
export function acknowledge(state: AgentState, turn: AgentTurn, message: Message): void {
  if (!RELIABLE_SENDS.has(message.type) || !state.extensions.has("ack")) return;
  // A CANCEL of a hold whose sale runs on an open TCP leg is held back
  // (see releaseReservation): unacknowledged, the server sends it again,
  // and a copy after the leg's end releases the item, across a restart too.
  if (message.type === "CANCEL" && holdsOpenLeg(state, message.rq)) return;
  turn.send({ type: "ACK", rq: message.rq, of: message.type as MessageOf<"ACK">["of"] });
}

/** The server's ACK of a request: it is not sent again. */
export function onAck(state: AgentState, turn: AgentTurn, message: MessageOf<"ACK">): void {
  if (state.unacked.ack(`${message.of} ${message.rq}`, turn.at) === undefined) {
    turn.log("debug", `ACK ${message.rq} ${message.of}: nothing awaited it`);
  }
}

/**
 * Sends again what is due, and gives up on what got no answer after every try.
 *
 * @returns The messages given up on.
 */
export function onTick(state: AgentState, turn: AgentTurn): Message[] {
  const { resend, expired } = state.unacked.due(turn.at);
  for (const { payload, attempt } of resend) {
    turn.log(
      "debug",
      `No answer to ${payload.type} ${payload.rq} yet: sending it again (try ${attempt})`,
    );
    turn.send(payload);
    // A person at the terminal sees the registration wait, every other try,
    // counted by the first REGISTER only (not the classic one beside it).
    if (
      payload.type === "REGISTER" && attempt % 2 === 0 && !state.registered &&
      !state.pending.get(payload.rq)?.beside
    ) {
      const server = formatAddress(state.profile.server);
      turn.print(
        "waiting",
        `Waiting for the server at ${server} (try ${attempt} of ${state.maxTries}); ` +
          "type cancel to stop",
        { rq: payload.rq, server, attempt, tries: state.maxTries },
      );
    }
    if (payload.type === "REGISTER" && attempt === FALLBACK_AFTER_TRIES + 1) {
      fallBackToClassic(state, turn, `no answer after ${FALLBACK_AFTER_TRIES} tries`);
    }
  }
  for (const { payload, attempt } of expired) gaveUp(state, turn, payload, attempt);
  confirmPurchases(state, turn);
  releaseUnsettled(state, turn);
  return expired.map(({ payload }) => payload);
}

/**
 * When the agent next needs a tick: a retransmission, a classic
 * purchase to confirm, or a sale the server left unsettled to release.
 */
export function nextDeadline(state: AgentState): number | undefined {
  const times = [
    state.unacked.nextDeadline(),
    ...[...state.unconfirmed.values()].map((u) => u.at),
    nextUnsettledDeadline(state),
  ].filter((at): at is number => at !== undefined);
  return times.length === 0 ? undefined : Math.min(...times);
}

/** Classic purchases whose time for a CANCEL passed: bought. */
function confirmPurchases(state: AgentState, turn: AgentTurn): void {
  for (const [rq, { transaction, at }] of [...state.unconfirmed]) {
    if (at > turn.at) continue;
    state.unconfirmed.delete(rq);
    const request = state.requests.get(transaction.ref);
    if (request?.state !== "buying") continue;
    recordPurchase(state, turn, transaction, transaction.address, false);
  }
}

/**
 * Something came from the server: if it had stopped answering, one line
 * says it is back.
 */
export function heardFromServer(state: AgentState, turn: AgentTurn): void {
  heardForUnsettled(state, turn.at);
  if (state.silentSince === undefined) return;
  const since = state.silentSince;
  state.silentSince = undefined;
  turn.print("answering", "The server answers again", {
    server: formatAddress(state.profile.server),
    silentSince: since,
  });
}

/** Ends a request the server never answered, and says so. */
function gaveUp(state: AgentState, turn: AgentTurn, message: Message, attempts: number): void {
  const silent = state.silentSince !== undefined;
  state.silentSince ??= turn.at;
  const about = "item" in message ? ` for ${message.item}` : "";
  const what = `${message.type === "ALIVE" ? "the keep-alive" : message.type}${about} ` +
    `got no reply after ${attempts} tries`;
  let outcome = "";
  switch (message.type) {
    case "ALIVE":
      // Sent on its own every little while: one line for the silence, not one per keep-alive.
      if (silent) {
        turn.log("debug", `ALIVE ${message.rq} got no reply after ${attempts} tries`);
        return;
      }
      outcome = "; a line says when the server answers again";
      break;
    case "REGISTER": {
      const pending = state.pending.get(message.rq);
      const fellBack = pending?.fellBack;
      state.pending.delete(message.rq);
      // Registered by the classic REGISTER sent beside it: nothing to say.
      if (fellBack && state.registered) return;
      // The REGISTER sent beside it may still be answered.
      if (registering(state)) return;
      const server = formatAddress(state.profile.server);
      if (state.deferredDenial !== undefined) {
        const reason = state.deferredDenial;
        state.deferredDenial = undefined;
        if (fellBack && !pending?.again && UNSIGNED_REFUSED.test(reason)) {
          // Our server, up by now, refused the classic REGISTER for want of
          // a signature: the signed one went out while it was down. Once more.
          turn.log("info", `Classic REGISTER denied (${reason}); sending the signed one again`);
          if (!silent) state.silentSince = undefined; // it was just heard from
          sendRegister(state, turn, true, { again: true });
          return;
        }
        state.registrationFailure = `the registration was denied: ${reason}`;
        turn.print("REGISTER-DENIED", `Registration denied: ${reason}`, {
          rq: message.rq,
          reason,
        });
        return;
      }
      state.registrationFailure = `the server at ${server} did not answer`;
      outcome = `; is the server running at ${server}? ` +
        "Start the peer with --server HOST:PORT to use another";
      break;
    }
    case "DE-REGISTER":
      state.pending.delete(message.rq);
      break;
    case "LOOKING_FOR":
    case "BUY": {
      const request = state.requests.get(message.rq);
      const open = message.type === "LOOKING_FOR"
        ? request?.state === "searching"
        : request?.state === "buying" && request.transaction === undefined;
      if (request && open) {
        updateRequest(state, turn, request, { state: "failed", reason: `server not answering` });
        outcome = message.type === "LOOKING_FOR" ? "; the search failed" : "; the purchase failed";
      }
      break;
    }
    case "LIST":
      // The server may not have the listing: it is sent again once the
      // server is heard from (see ListingSync.lost).
      outcome = `; it is listed again when the server answers`;
      break;
    case "ACCEPT": {
      // The server never heard the ACCEPT: hold the item no longer.
      const key = message.item.toLowerCase();
      const item = state.items.get(key);
      if (item?.reservedFor === message.rq && item.transaction === undefined) {
        putItem(state, turn, key, released(item));
        outcome = `; ${item.item} is for sale again`;
      }
      break;
    }
  }
  const text = `Server not answering: ${what}${outcome}`;
  turn.print("timeout", text, {
    rq: message.rq,
    type: message.type,
    message: `server not answering: ${what}${outcome}`,
    attempts,
  });
}

/** Whether the item held for `rq` is being sold on an open TCP leg. */
function holdsOpenLeg(state: AgentState, rq: string): boolean {
  for (const item of state.items.values()) {
    if (item.reservedFor === rq && legOpen(state, item.transaction?.tx)) return true;
  }
  return false;
}
