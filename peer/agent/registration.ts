/**
 * Registration: REGISTER and DE-REGISTER, their answers, the unsigned retry
 * a strict classic server needs, and the signed registration again after a
 * restart that takes the open flows up (see {@linkcode resumeFlows}).
 *
 * @module
 */
import { ACKED_REQUESTS, formatAddress, type Message, type MessageOf } from "../../protocol/mod.ts";
import { ExtensionSet } from "../../protocol/extensions.ts";
import { buyerAnswer } from "./buying.ts";
import type { AgentTurn } from "./effects.ts";
import { negotiationAnswer } from "./selling.ts";
import { endReservation, type NegotiationRecord } from "./records.ts";
import {
  type AgentState,
  type KeyInfo,
  legOpen,
  OPEN_STATES,
  type Pending,
  putItem,
  RESUME_WITHIN_MS,
  updateRequest,
} from "./state.ts";
import { isAuthenticated } from "./views.ts";

/**
 * The extensions this peer offers in REGISTER: `from` (FOUND names the
 * seller), `ack` (acknowledgements and retransmission both ways) and
 * `no-offer` (NO_OFFER answers a SEARCH it cannot serve) and `book` (its
 * inventory listed on the server, `browse`, keep-alives). A peer with a key
 * offers `auth` too: the shell signs that REGISTER.
 */
export const OFFERED_EXTENSIONS: readonly string[] = ["from", "ack", "no-offer", "book"];

/** The extension word of a signed registration, MACs and TLS. */
export const AUTH = "auth";

/** Reasons our server gives to refuse a signed REGISTER: no use retrying it unsigned. */
const FINAL_DENIAL = /bound to another key|^Refused: |server is full/i;

/**
 * A reason our server gives an unsigned REGISTER (cut to the request's
 * length for an unknown address): the signed one's reason matters more.
 */
export const UNSIGNED_REFUSED = /^auth required|only authenticated peers/i;

/**
 * Sends REGISTER, with the extensions this peer offers unless `extended`
 * is false (the retry for a strict classic server).
 */
export function sendRegister(
  state: AgentState,
  turn: AgentTurn,
  extended: boolean,
  more: Pick<Pending, "auto" | "firstDenial" | "retries" | "beside" | "again"> & {
    cookie?: string;
  } = {},
): void {
  const id = state.profile;
  const rq = state.newRq();
  const { cookie, ...kept } = more;
  state.pending.set(rq, { type: "REGISTER", at: turn.at, extended, ...kept });
  const offered = state.key ? [...OFFERED_EXTENSIONS, AUTH] : [...OFFERED_EXTENSIONS];
  // The server's cookie rides with the words the shell signs.
  if (cookie !== undefined) offered.push(`cookie=${cookie}`);
  turn.send({
    type: "REGISTER",
    rq,
    name: id.name,
    ip: id.ip,
    udpPort: id.udpPort,
    tcpPort: id.tcpPort,
    ...(extended ? { extensions: offered } : {}),
  });
}

/** The `register` command: says where it registers, at once (an answer may take a while). */
export function register(state: AgentState, turn: AgentTurn): void {
  const server = formatAddress(state.profile.server);
  state.registrationFailure = undefined;
  turn.print("registering", `Registering with ${server}…`, { server });
  sendRegister(state, turn, true);
}

/** The `deregister` command. */
export function sendDeregister(state: AgentState, turn: AgentTurn): void {
  if (!state.registered) {
    // Nothing to wait for: the server does not answer an address it
    // does not know with a denial longer than the request.
    turn.error("Not registered: nothing to de-register");
    return;
  }
  const rq = state.newRq();
  state.pending.set(rq, { type: "DE-REGISTER", at: turn.at });
  turn.send({ type: "DE-REGISTER", rq, name: state.profile.name });
}

/**
 * At start: a peer registered with our server registers again, and takes
 * its open flows up once answered (what a crash may have lost is sent
 * again). With `auth` it proves its key again, which refreshes the
 * server's record of its address and the session; a plaintext peer that
 * agreed `ack` sends the same REGISTER, which the server confirms. A
 * classic server is sent nothing: it would see a name in use.
 */
export function registerAgainAfterRestart(state: AgentState, turn: AgentTurn): void {
  if (!state.registered || state.serverKind !== "ours") return;
  if (state.extensions.has("auth")) {
    if (!state.key) return;
    turn.log("info", "Registering again after a restart (signed)");
  } else if (state.extensions.has("ack")) {
    turn.log("info", "Registering again after a restart");
  } else return;
  sendRegister(state, turn, true, { auto: true });
}

/**
 * Whether a datagram answers a request of this peer that the server
 * cannot seal (see `Agent.awaits`).
 */
export function awaitsUnsealed(state: AgentState, message: Message): boolean {
  const pending = state.pending.get(message.rq);
  if (message.type === "REGISTER-DENIED" || message.type === "RETRY") {
    return pending?.type === "REGISTER";
  }
  if (message.type === "DE-REGISTER-DENIED") return pending?.type === "DE-REGISTER";
  return false;
}

/**
 * The pending request a REGISTER or DE-REGISTER answer ends, taken off the
 * lists; `undefined` if it answers nothing this peer sent.
 */
export function takePending(
  state: AgentState,
  turn: AgentTurn,
  type: Pending["type"],
  rq: string,
): Pending | undefined {
  const pending = state.pending.get(rq);
  if (pending?.type !== type) return undefined;
  state.pending.delete(rq);
  state.unacked.ack(`${type} ${rq}`, turn.at);
  return pending;
}

/**
 * The pending REGISTER that REGISTERED or REGISTER-DENIED answers, taken off
 * the lists. Some classic servers answer with their own counter instead of
 * our RQ#: such an answer is taken for the one REGISTER pending (a classic
 * one first, for a classic answer), unless the server is known to be ours
 * or the answer repeats one already acted on.
 */
export function takeRegisterAnswer(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"REGISTERED" | "REGISTER-DENIED">,
): { rq: string; pending: Pending } | undefined {
  const own = takePending(state, turn, "REGISTER", message.rq);
  if (own) return { rq: message.rq, pending: own };
  if (state.serverKind === "ours" || state.recent.has(`${message.type} ${message.rq}`)) {
    return undefined;
  }
  const all = [...state.pending].filter(([, pending]) =>
    pending.type === "REGISTER" && !pending.auto
  );
  const classic = message.type === "REGISTER-DENIED" || message.extensions === undefined;
  const preferred = all.filter(([, pending]) => !pending.extended === classic);
  const candidates = preferred.length > 0 ? preferred : all;
  if (candidates.length !== 1) return undefined;
  const [rq] = candidates[0]!;
  turn.log("info", `${message.type} ${message.rq} taken as the answer to REGISTER ${rq}`);
  return { rq, pending: takePending(state, turn, "REGISTER", rq)! };
}

/** Whether a REGISTER is waiting for its answer. */
export function registering(state: AgentState): boolean {
  return [...state.pending.values()].some((pending) => pending.type === "REGISTER");
}

/** Tries of a REGISTER with extensions before a classic one is sent beside it. */
export const FALLBACK_AFTER_TRIES = 3;

/**
 * A REGISTER with extensions went unanswered, or got an answer that does
 * not parse: a classic server that chokes on the extra words. A classic
 * REGISTER is sent beside it; whichever is answered first registers. Not
 * for a server known to be ours (its key is known, or it is a restart's
 * registration).
 *
 * @returns Whether it fell back.
 */
export function fallBackToClassic(
  state: AgentState,
  turn: AgentTurn,
  why: string,
  answered = false,
): boolean {
  if (state.serverKey || state.serverKind === "ours") return false;
  const entry = [...state.pending].find(([, pending]) =>
    pending.type === "REGISTER" && pending.extended && !pending.auto && !pending.fellBack
  );
  if (!entry) return false;
  const [rq, pending] = entry;
  if (answered) {
    // Answered, though with what does not parse: not sent again.
    takePending(state, turn, "REGISTER", rq);
    state.superseded.add(rq);
  } else state.pending.set(rq, { ...pending, fellBack: true });
  turn.log("info", `REGISTER ${rq} with extensions: ${why}; sending a classic REGISTER too`);
  sendRegister(state, turn, false, { beside: true });
  return true;
}

/** Our server's denials of a name held by another key, and the classic one. */
const NAME_TAKEN = /^name \S+ (is bound to another key|in use)$|^Name-Already-Exists$/i;

/** What to do about a denial for a name taken, else nothing. */
function nameTakenHint(state: AgentState, reason: string): string {
  if (!NAME_TAKEN.test(reason)) return "";
  const name = state.profile.name;
  return `; the name is taken (another peer, or ${name} in another --data directory, holds it): ` +
    "start this peer with another --name";
}

/** Ends the other REGISTERs pending once one is answered. */
function dropOtherRegisters(state: AgentState, turn: AgentTurn): void {
  for (const [rq, pending] of [...state.pending]) {
    if (pending.type !== "REGISTER") continue;
    takePending(state, turn, "REGISTER", rq);
    state.unacked.forget(`REGISTER ${rq}`);
    state.superseded.add(rq);
  }
  state.deferredDenial = undefined;
}

/**
 * A REGISTERED for a REGISTER given up when the one beside it was answered
 * first: the server took both, this one last, so its answer says what the
 * server now knows of this peer (our server with `--allow-plaintext`
 * confirms a classic REGISTER and then the one with extensions). Except a
 * classic answer once the server answered with extensions: our server never
 * takes a classic REGISTER in place of one with extensions (one that comes
 * after is confirmed with the extensions it keeps), so that answer was sent
 * first and only delivered late, and the server is still ours.
 *
 * @returns Whether it was such an answer.
 */
export function onLateRegistration(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"REGISTERED" | "REGISTER-DENIED">,
  serverKey: KeyInfo | undefined,
): boolean {
  if (!state.superseded.delete(message.rq)) return false;
  if (message.type === "REGISTER-DENIED" || !state.registered) {
    turn.log("debug", `${message.type} ${message.rq}: another REGISTER was answered first`);
    return true;
  }
  if (message.extensions === undefined && state.serverKind === "ours") {
    turn.log("debug", `REGISTERED ${message.rq}: a classic answer overtaken by our server's`);
    return true;
  }
  state.serverKind = message.extensions === undefined ? "classic" : "ours";
  state.extensions = ExtensionSet.from(message.extensions);
  if (serverKey && state.extensions.has("auth")) state.serverKey = serverKey;
  setRegistered(state, turn, true);
  turn.log(
    "info",
    `REGISTERED ${message.rq} came last: the server knows this peer as ${
      state.serverKind === "ours"
        ? `ours (extensions: ${state.extensions.toArray().join(" ") || "none"})`
        : "classic"
    }`,
  );
  // What was sent meanwhile without retransmission is sent again, now tracked.
  resumeFlows(state, turn);
  return true;
}

/** Most RETRYs one registration follows: a forged stream of them cannot loop it. */
const MAX_RETRIES = 3;

/**
 * RETRY to a pending signed REGISTER: our server asks it to prove its
 * address. The REGISTER is sent again, under a new RQ#, with the cookie
 * signed in.
 */
export function onRetry(state: AgentState, turn: AgentTurn, message: MessageOf<"RETRY">): void {
  const pending = state.pending.get(message.rq);
  if (pending?.type !== "REGISTER" || !pending.extended || !state.key) return;
  takePending(state, turn, "REGISTER", message.rq);
  const retries = (pending.retries ?? 0) + 1;
  if (retries > MAX_RETRIES) {
    state.registrationFailure = `the server asked for its address cookie ${MAX_RETRIES} times`;
    turn.print(
      "REGISTER-DENIED",
      `Registration failed: the server asked for its address cookie ${MAX_RETRIES} times`,
      { rq: message.rq, reason: "too many RETRY" },
    );
    return;
  }
  turn.log("debug", `RETRY ${message.rq}: registering again with the server's cookie`);
  sendRegister(state, turn, true, {
    ...(pending.auto ? { auto: true } : {}),
    retries,
    cookie: message.cookie,
  });
}

/** The shell refused the server's answer to a REGISTER: end it with the reason. */
export function onRefused(state: AgentState, turn: AgentTurn, rq: string, reason: string): void {
  if (!takePending(state, turn, "REGISTER", rq)) {
    turn.log("warning", `Refused an answer to REGISTER ${rq}: ${reason}`);
    return;
  }
  state.registrationFailure = `the registration was refused: ${reason}`;
  turn.print("refused", `Registration refused: ${reason}`, { rq, reason });
}

/** REGISTERED or REGISTER-DENIED for the pending REGISTER. */
export function onRegistrationAnswer(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"REGISTERED" | "REGISTER-DENIED">,
  pending: Pending,
  serverKey: KeyInfo | undefined,
): void {
  const server = formatAddress(state.profile.server);
  if (state.registered && pending.fellBack) {
    // The first REGISTER, still out beside the classic one answered
    // before it: our server now knows this peer by it.
    if (message.type === "REGISTER-DENIED") {
      turn.log("info", `REGISTER with extensions denied (${message.reason}); registered classic`);
      return;
    }
    state.superseded.add(message.rq);
    onLateRegistration(state, turn, message, serverKey);
    return;
  }
  if (message.type === "REGISTER-DENIED" && registering(state)) {
    // Two REGISTERs out (the classic one sent beside the first): the other
    // may still be answered.
    if (pending.fellBack) {
      turn.log(
        "info",
        `REGISTER with extensions denied (${message.reason}); the classic one is out`,
      );
      return;
    }
    state.deferredDenial = message.reason;
    turn.log("info", `Classic REGISTER denied (${message.reason}); waiting for the first one`);
    return;
  }
  if (message.type === "REGISTER-DENIED") {
    // A strict classic server rejects the extension words: ask again
    // without them. Not a server whose key is known (it is ours), nor
    // after a denial only our server gives.
    // Nor the registration again after a restart: that server is ours.
    if (
      pending.extended && !pending.auto && !state.serverKey && !FINAL_DENIAL.test(message.reason)
    ) {
      turn.log(
        "info",
        `REGISTER with extensions denied (${message.reason}); retrying without them`,
      );
      sendRegister(state, turn, false, { firstDenial: message.reason });
      return;
    }
    // Our server refuses the unsigned retry for want of a key: the first
    // denial is the one that says what is wrong.
    const reason = pending.firstDenial !== undefined && UNSIGNED_REFUSED.test(message.reason)
      ? pending.firstDenial
      : message.reason;
    state.registrationFailure = `the registration was denied: ${reason}`;
    turn.print("REGISTER-DENIED", `Registration denied: ${reason}${nameTakenHint(state, reason)}`, {
      rq: message.rq,
      reason,
    });
    return;
  }
  // The other REGISTER out beside this one is sent no more (each copy of
  // the one with extensions may crash a classic server's handler); its
  // RQ# is kept, so a late answer to it from our server still counts.
  dropOtherRegisters(state, turn);
  state.serverKind = message.extensions === undefined ? "classic" : "ours";
  // Only the feature words: `key=`, `dh=` and `sig=` were for the shell.
  state.extensions = ExtensionSet.from(message.extensions);
  if (serverKey && state.extensions.has("auth")) {
    if (state.serverKey?.key !== serverKey.key) state.serverKeyGiven = false;
    state.serverKey = serverKey;
  }
  setRegistered(state, turn, true);
  const again = pending.auto ? " again" : "";
  const authenticated = isAuthenticated(state);
  turn.print(
    "REGISTERED",
    `Registered${again} as ${state.profile.name} with ${server}${
      authenticated ? ` (authenticated, server key ${serverKey?.fingerprint ?? "?"})` : ""
    }`,
    {
      rq: message.rq,
      name: state.profile.name,
      server,
      serverKind: state.serverKind,
      features: state.extensions.toArray(),
      authenticated,
      ...(authenticated ? { serverKeyFingerprint: state.serverKey?.fingerprint } : {}),
      ...(pending.auto ? { again: true } : {}),
    },
  );
  if (pending.auto) resumeFlows(state, turn);
}

/** DE-REGISTERED or DE-REGISTER-DENIED for the pending DE-REGISTER. */
export function onDeregistrationAnswer(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"DE-REGISTERED" | "DE-REGISTER-DENIED">,
): void {
  // "not registered": the server no longer has this name (its DE-REGISTERED
  // was lost, or it forgot the peer): as good as DE-REGISTERED, so the
  // flows end here too rather than wait for a server that ended them.
  if (message.type === "DE-REGISTERED" || / not registered$/.test(message.reason)) {
    setRegistered(state, turn, false);
    const ended = endFlowsOnLeaving(state, turn);
    const what = ended > 0 ? `; ${ended} open search(es) and reservation(s) ended with it` : "";
    turn.print("DE-REGISTERED", `De-registered ${state.profile.name}${what}`, {
      rq: message.rq,
      name: state.profile.name,
      ...(ended > 0 ? { ended } : {}),
    });
  } else {
    turn.print("DE-REGISTER-DENIED", `De-registration denied: ${message.reason}`, {
      rq: message.rq,
      reason: message.reason,
    });
  }
}

/** Why the flows a departure ends are over. */
export const LEFT_REASON = "this peer left the marketplace";

/**
 * After DE-REGISTERED: the server has ended every flow this peer took part
 * in (its searches cancelled, the searches holding its items cancelled,
 * its negotiations over) and tells it nothing more of them, so the agent
 * ends them too: the searches are cancelled, the items for sale again, the
 * questions about them no longer asked, and their requests no longer sent.
 *
 * @returns How many searches, reservations and negotiations it ended.
 */
function endFlowsOnLeaving(state: AgentState, turn: AgentTurn): number {
  let ended = 0;
  const forget = (rq: string) => {
    for (const type of ACKED_REQUESTS) state.unacked.forget(`${type} ${rq}`);
  };
  for (const request of [...state.requests.values()]) {
    if (!OPEN_STATES.has(request.state)) continue;
    // A purchase being paid on an open TCP leg goes on: the leg's end decides.
    if (legOpen(state, request.transaction?.tx)) continue;
    updateRequest(state, turn, request, {
      state: "cancelled",
      cancelledBy: "server",
      reason: LEFT_REASON,
    });
    forget(request.rq);
    ended++;
  }
  for (const [key, item] of [...state.items]) {
    if (item.reservedFor === undefined) continue;
    // A sale running on an open TCP leg goes on: the leg's end decides.
    if (legOpen(state, item.transaction?.tx)) continue;
    forget(item.reservedFor);
    putItem(state, turn, key, endReservation(item));
    ended++;
  }
  for (const negotiation of [...state.negotiations.values()]) {
    if (negotiation.state !== "asking") continue;
    // Refused without a REFUSE: the server asks nothing of a peer that left.
    const over: NegotiationRecord = { ...negotiation, state: "refused", answeredAt: turn.at };
    state.negotiations.set(negotiation.rq, over);
    turn.save({ key: ["negotiation", negotiation.rq], value: over });
    ended++;
  }
  return ended;
}

function setRegistered(state: AgentState, turn: AgentTurn, registered: boolean): void {
  state.registered = registered;
  const known = state.serverKind === "unknown" ? {} : {
    serverKind: state.serverKind,
    features: state.extensions.toArray(),
  };
  turn.save({
    key: ["registration"],
    value: {
      registered,
      server: formatAddress(state.profile.server),
      changedAt: turn.at,
      ...known,
    },
  });
}

/**
 * After a restart's registration: what may have been lost with the
 * process is sent again. Our server answers a repeat from the flow's
 * state, so a duplicate does no harm.
 */
function resumeFlows(state: AgentState, turn: AgentTurn): void {
  if (!state.extensions.has("ack")) return;
  const at = turn.at;
  let count = 0;
  for (const request of state.requests.values()) {
    if (request.state === "searching") {
      turn.send({
        type: "LOOKING_FOR",
        rq: request.rq,
        name: state.profile.name,
        item: request.item,
        description: request.description,
        maxPrice: request.maxPrice,
      });
    } else if (request.state === "buying" && request.transaction === undefined) {
      turn.send(buyerAnswer("BUY", request));
    } else if (
      request.state === "cancelled" && request.cancelledBy === "user" &&
      request.transaction === undefined && at - request.updatedAt <= RESUME_WITHIN_MS
    ) {
      turn.send(buyerAnswer("CANCEL", request));
    } else continue;
    count++;
  }
  const holding = new Set([...state.items.values()].map((item) => item.reservedFor));
  for (const negotiation of state.negotiations.values()) {
    if (negotiation.state === "asking") continue;
    if (at - (negotiation.answeredAt ?? 0) > RESUME_WITHIN_MS) continue;
    // An ACCEPT only while the item is still held for it.
    if (negotiation.state === "accepted" && !holding.has(negotiation.rq)) continue;
    turn.send(negotiationAnswer(negotiation));
    count++;
  }
  if (count > 0) turn.log("info", `Sent ${count} open request(s) again after the restart`);
}
