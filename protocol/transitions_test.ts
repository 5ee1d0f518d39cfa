import assert from "node:assert/strict";
import { type MoveGuard, Transitions } from "./transitions.ts";

type Door = "shut" | "open" | "broken";
const TABLE = { shut: ["open", "broken"], open: ["shut"], broken: [] } as const;

function door(stay = false) {
  return new Transitions<Door>("door", TABLE, { initial: ["shut"], stay, source: "door.ts" });
}

/** A guard that keeps what it refused. */
function recorder(strict: boolean): MoveGuard & { refused: string[] } {
  const refused: string[] = [];
  return { strict, refused, refuse: (text) => refused.push(text) };
}

Deno.test("a table allows its listed moves and a new record only in an initial state", () => {
  const machine = door();
  assert.ok(machine.allows(undefined, "shut"));
  assert.ok(!machine.allows(undefined, "open"));
  assert.ok(machine.allows("shut", "open"));
  assert.ok(machine.allows("open", "shut"));
  assert.ok(!machine.allows("open", "broken"));
  assert.ok(!machine.allows("broken", "shut"));
});

Deno.test("staying in a state is allowed only when the table says so", () => {
  assert.ok(!door(false).allows("open", "open"));
  assert.ok(door(true).allows("open", "open"));
  // Even an end state may be stored again unchanged.
  assert.ok(door(true).allows("broken", "broken"));
  assert.ok(!door(true).allows("broken", "shut"));
});

Deno.test("a state missing from the table allows nothing", () => {
  assert.ok(!door(true).allows("ajar" as Door, "shut"));
});

Deno.test("move throws a RangeError naming the record, the states and the table in strict mode", () => {
  const guard = recorder(true);
  assert.equal(door().move("shut", "open", guard, "front"), true);
  assert.throws(() => door().move("open", "broken", guard, "front"), {
    name: "RangeError",
    message:
      `Refused to move door front from "open" to "broken": not a move of the table in door.ts; ` +
      "add it there if the move is meant",
  });
  assert.throws(() => door().move(undefined, "open", guard), {
    message: /^Refused to move door from "\(new\)" to "open"/,
  });
  assert.deepEqual(guard.refused, []);
});

Deno.test("move refuses and reports an illegal move when not strict", () => {
  const guard = recorder(false);
  assert.equal(door().move("open", "broken", guard, "front"), false);
  assert.equal(door().move("open", "shut", guard, "front"), true);
  assert.deepEqual(guard.refused, [
    `Refused to move door front from "open" to "broken": not a move of the table in door.ts; ` +
    "add it there if the move is meant",
  ]);
});

Deno.test("a table checked after the fact reports the move as made, not refused", () => {
  const guard = recorder(false);
  const late = new Transitions<Door>("door", TABLE, {
    initial: ["shut"],
    source: "door.ts",
    afterTheFact: true,
  });
  assert.equal(late.move("broken", "open", guard), false);
  assert.deepEqual(guard.refused, [
    `Moved door from "broken" to "open": not a move of the table in door.ts; ` +
    "add it there if the move is meant",
  ]);
});
