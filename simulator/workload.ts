/**
 * What the simulated users do, drawn from the seed: who takes part, what
 * each seller lists, what each buyer looks for and at what price, how they
 * answer FOUND and NEGOTIATE, who leaves the marketplace, and which machine
 * crashes when.
 *
 * @module
 */
import type { Random } from "./random.ts";

/** A card that passes the Luhn check (the processors' test Visa). */
export const VALID_CARD = "4111111111111111";
/** A card that fails it: the server must refuse the transaction. */
export const INVALID_CARD = "4111111111111112";

/** One simulated user and its peer's settings. */
export interface AgentPlan {
  readonly name: string;
  /** Signs its registration (the shells' crypto stands in); otherwise a plaintext peer. */
  readonly keyed: boolean;
  readonly autoBuy: boolean;
  readonly card: string;
  /** How likely the user says yes to a FOUND or NEGOTIATE question. */
  readonly yesRate: number;
}

/** One line typed at a peer, `at` ms after the start. */
export interface ScriptedLine {
  readonly at: number;
  readonly agent: string;
  readonly text: string;
}

/** A crash of the server or of a peer, and how long it stays down. */
export interface PlannedCrash {
  readonly at: number;
  /** `"market"` or an agent's name. */
  readonly node: string;
  readonly downFor: number;
}

/** Everything the users and the faults do in one run. */
export interface Workload {
  readonly agents: readonly AgentPlan[];
  readonly lines: readonly ScriptedLine[];
  readonly crashes: readonly PlannedCrash[];
  /** What the sellers listed: `seller\0item in lower case`. */
  readonly listed: ReadonlySet<string>;
}

/** Knobs of the workload. */
export interface WorkloadOptions {
  /** Whether plaintext (unkeyed) peers may crash too. */
  readonly crashPlaintext?: boolean;
  /** How many crashes at most. */
  readonly maxCrashes?: number;
  /** Whether a user may de-register (and perhaps come back). */
  readonly deregistrations?: boolean;
}

const CATALOG = ["lamp", "book", "chair", "bike", "radio", "kettle", "guitar", "clock"];
const NAMES = ["ann", "bob", "cat", "dan", "eve", "fay"];
/** The workload's activity ends by then; the rest of the run lets timeouts fire. */
export const ACTIVE_MS = 30_000;

/** Draws one run's workload from `random`. */
export function makeWorkload(random: Random, options: WorkloadOptions = {}): Workload {
  const count = random.int(3, 5);
  const invalidCardFor = random.chance(0.25) ? random.int(0, count - 1) : -1;
  const agents: AgentPlan[] = NAMES.slice(0, count).map((name, i) => ({
    name,
    keyed: random.chance(0.5),
    autoBuy: random.chance(0.3),
    card: i === invalidCardFor ? INVALID_CARD : VALID_CARD,
    yesRate: random.pick([0.5, 0.8, 1]),
  }));
  const lines: ScriptedLine[] = [];
  const listed = new Set<string>();
  const prices = new Map<string, number>();
  for (const agent of agents) {
    lines.push({ at: random.int(0, 300), agent: agent.name, text: "register" });
  }
  // Sellers list a few items each; two sellers may list the same name, so
  // offers compete. No item is listed twice by one seller, so one listing
  // sold twice shows as two sales of that seller's item.
  const sellers = agents.filter(() => random.chance(0.6));
  if (sellers.length === 0) sellers.push(agents[0]!);
  for (const seller of sellers) {
    for (let n = random.int(1, 3); n > 0; n--) {
      const item = random.pick(CATALOG);
      if (listed.has(`${seller.name}\0${item}`)) continue;
      listed.add(`${seller.name}\0${item}`);
      // Prices with cents, so that the 10% fee needs rounding.
      const price = random.int(1_000, 30_000) / 100;
      prices.set(item, Math.min(prices.get(item) ?? Infinity, price));
      const floor = random.chance(0.3) ? ` --floor ${(price * 0.8).toFixed(2)}` : "";
      lines.push({
        at: random.int(400, 2_000),
        agent: seller.name,
        text: `sell ${item} ${price.toFixed(2)} a fine ${item}${floor}`,
      });
    }
  }
  // Buyers look for listed items (and sometimes for what nobody sells), at
  // a maximum around the cheapest price: above it a sale, below it a
  // negotiation.
  for (const buyer of agents) {
    if (!random.chance(0.8)) continue;
    for (let n = random.int(1, 3); n > 0; n--) {
      const item = random.chance(0.85) ? random.pick([...prices.keys()]) : random.pick(CATALOG);
      const cheapest = prices.get(item) ?? 50;
      const max = Math.max(1, Math.round(cheapest * (0.7 + random.float() * 0.6)));
      lines.push({ at: random.int(2_500, 20_000), agent: buyer.name, text: `buy ${item} ${max}` });
    }
  }
  // Someone leaves, and perhaps comes back.
  if (random.chance(0.3) && (options.deregistrations ?? true)) {
    const leaver = random.pick(agents);
    const at = random.int(5_000, 22_000);
    lines.push({ at, agent: leaver.name, text: "deregister" });
    if (random.chance(0.5)) {
      lines.push({ at: at + random.int(1_000, 5_000), agent: leaver.name, text: "register" });
    }
  }
  const crashes: PlannedCrash[] = [];
  const crashable = [
    "market",
    ...agents.filter((a) => a.keyed || options.crashPlaintext)
      .map((a) => a.name),
  ];
  for (let n = random.int(0, options.maxCrashes ?? 3); n > 0; n--) {
    crashes.push({
      at: random.int(1_000, 25_000),
      node: random.pick(crashable),
      downFor: random.int(200, 4_000),
    });
  }
  lines.sort((a, b) => a.at - b.at);
  return { agents, lines, crashes, listed };
}
