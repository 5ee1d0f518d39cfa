/**
 * The agent consults the tables of the buyer's search and of the seller's
 * item on every change of their state: a move a table does not list throws
 * in strict mode (tests, the simulator) and is refused with a warning in
 * production; the registration's, read from its fields after each event,
 * throws or is logged. No handler makes an illegal move on purpose, so the
 * test calls the agent's own `updateRequest`, `putItem`, `removeItem` and
 * `checkRegistration` on a state restored from a snapshot, as a buggy
 * handler would.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AgentTurn } from "./agent/effects.ts";
import type { BuyRequest, InventoryItem } from "./agent/records.ts";
import { createState, putItem, removeItem, updateRequest } from "./agent/state.ts";
import { checkRegistration, registrationState } from "./agent/registration_states.ts";
import { ALICE, T0 } from "./_agent_harness.ts";

const BOUGHT: BuyRequest = {
  rq: "alice-a-1",
  item: "Laptop",
  description: "any",
  maxPrice: 500,
  state: "bought",
  price: 400,
  createdAt: T0,
  updatedAt: T0,
};
const SELLING: InventoryItem = {
  item: "Lamp",
  price: 20,
  description: "a lamp",
  reservedFor: "S1",
  reservedPrice: 20,
  transaction: { tx: "T1", price: 20 },
  addedAt: T0,
};

function restored(strictTransitions: boolean) {
  return createState(ALICE, { requests: [BOUGHT], items: [SELLING] }, {
    newRq: () => "alice-a-2",
    strictTransitions,
  });
}

/** The warnings a turn logged, and whether it wrote anything. */
function outcome(turn: AgentTurn) {
  const effects = turn.effects();
  return {
    warnings: effects.flatMap((effect) =>
      effect.kind === "log" && effect.level === "warning" ? [effect.text] : []
    ),
    writes: effects.filter((effect) => effect.kind === "save" || effect.kind === "delete"),
  };
}

Deno.test("a move the tables do not allow throws in strict mode", async (t) => {
  const state = restored(true);
  await t.step("a bought search does not search again", () => {
    assert.throws(
      () => updateRequest(state, new AgentTurn(T0), BOUGHT, { state: "searching" }),
      (error: Error) =>
        error instanceof RangeError &&
        error.message.includes(`request alice-a-1 from "bought" to "searching"`),
    );
    assert.equal(state.requests.get(BOUGHT.rq)?.state, "bought");
  });
  await t.step("an item being sold is not merely reserved again", () => {
    const { transaction: _, ...reserved } = SELLING;
    assert.throws(
      () => putItem(state, new AgentTurn(T0), "lamp", reserved),
      (error: Error) =>
        error instanceof RangeError &&
        error.message.includes(`item lamp from "in_transaction" to "reserved"`),
    );
    assert.equal(state.items.get("lamp"), SELLING);
  });
  await t.step("an item being sold is not removed as unsold", () => {
    assert.throws(
      () => removeItem(state, new AgentTurn(T0), "lamp", "removed"),
      (error: Error) => error instanceof RangeError && error.message.includes(`to "removed"`),
    );
    assert.equal(state.items.get("lamp"), SELLING);
  });
});

Deno.test("a move the tables do not allow is refused and logged in production", async (t) => {
  const state = restored(false);
  await t.step("a bought search stays bought", () => {
    const turn = new AgentTurn(T0 + 1);
    assert.equal(updateRequest(state, turn, BOUGHT, { state: "searching" }), BOUGHT);
    assert.equal(state.requests.get(BOUGHT.rq), BOUGHT);
    const { warnings, writes } = outcome(turn);
    assert.deepEqual(writes, []);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /^Refused to move request alice-a-1 from "bought" to "searching": .*peer\/agent\/request_states\.ts/,
    );
  });
  await t.step("an item being sold stays as it is", () => {
    const { transaction: _, ...reserved } = SELLING;
    const turn = new AgentTurn(T0 + 1);
    putItem(state, turn, "lamp", reserved);
    removeItem(state, turn, "lamp", "removed");
    assert.equal(state.items.get("lamp"), SELLING);
    const { warnings, writes } = outcome(turn);
    assert.deepEqual(writes, []);
    assert.equal(warnings.length, 2);
    assert.match(
      warnings[0]!,
      /^Refused to move item lamp from "in_transaction" to "reserved": .*item_states\.ts/,
    );
    assert.match(warnings[1]!, /^Refused to move item lamp from "in_transaction" to "removed"/);
  });
  await t.step("a move the table allows is made", () => {
    const turn = new AgentTurn(T0 + 2);
    removeItem(state, turn, "lamp", "sold");
    assert.equal(state.items.has("lamp"), false);
    assert.deepEqual(outcome(turn), {
      warnings: [],
      writes: [{ kind: "delete", key: ["item", "lamp"] }],
    });
  });
});

Deno.test("the registration's state is read from its fields, and an illegal move throws or is logged", async (t) => {
  await t.step("the states the fields say", () => {
    const state = restored(true);
    assert.equal(registrationState(state), "not_registered");
    state.pending.set("r1", { type: "REGISTER", at: T0, extended: true });
    assert.equal(registrationState(state), "registering");
    state.pending.set("r2", { type: "REGISTER", at: T0, extended: false, beside: true });
    assert.equal(registrationState(state), "registering", "a classic REGISTER beside");
    state.pending.delete("r1");
    assert.equal(registrationState(state), "registering_classic");
    state.pending.clear();
    state.registered = true;
    assert.equal(registrationState(state), "registered");
    state.pending.set("r3", { type: "DE-REGISTER", at: T0 });
    assert.equal(registrationState(state), "deregistering");
  });
  await t.step("a DE-REGISTER sent while not registered throws in strict mode", () => {
    const state = restored(true);
    state.pending.set("r1", { type: "DE-REGISTER", at: T0 });
    const turn = new AgentTurn(T0);
    assert.throws(
      () =>
        checkRegistration("not_registered", state, {
          strict: state.strictTransitions,
          refuse: (text) => turn.log("warning", text),
        }),
      (error: Error) =>
        error instanceof RangeError &&
        error.message.startsWith(`Moved registration from "not_registered" to "deregistering"`),
    );
  });
  await t.step("and is logged in production", () => {
    const state = restored(false);
    state.pending.set("r1", { type: "DE-REGISTER", at: T0 });
    const turn = new AgentTurn(T0);
    checkRegistration("not_registered", state, {
      strict: state.strictTransitions,
      refuse: (text) => turn.log("warning", text),
    });
    assert.deepEqual(outcome(turn).warnings, [
      `Moved registration from "not_registered" to "deregistering": ` +
      "not a move of the table in peer/agent/registration_states.ts; add it there if the move is meant",
    ]);
  });
});
