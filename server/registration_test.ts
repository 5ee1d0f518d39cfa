import assert from "node:assert/strict";
import { ExtensionSet, KNOWN_EXTENSIONS } from "../protocol/extensions.ts";
import type { MessageOf } from "../protocol/mod.ts";
import type { MessageEvent } from "./market_turn.ts";
import { admit, describeAdmission } from "./registration.ts";
import { Registry } from "./registry.ts";

const OPTIONS = {
  extensions: ExtensionSet.from(KNOWN_EXTENSIONS),
  allowPlaintext: true,
  maxPeers: 2,
};

function register(name: string, extensions?: string[]): MessageOf<"REGISTER"> {
  return {
    type: "REGISTER",
    rq: `${name}-r`,
    name,
    ip: "127.0.0.1",
    udpPort: 6000,
    tcpPort: 6001,
    ...(extensions ? { extensions } : {}),
  };
}

function event(message: MessageOf<"REGISTER">, signed = false): MessageEvent {
  return {
    kind: "message",
    from: { hostname: "127.0.0.1", port: 6000 },
    message,
    bytes: 60,
    at: 5,
    ...(signed ? { registration: { proof: { key: "k1", ca: "ca" }, keys: {} as never } } : {}),
  };
}

Deno.test("admit agrees the known extensions, auth only for a signed registration", () => {
  const registry = new Registry();
  const words = ["from", "auth", "x-new", "key=abc"];
  const unsigned = admit(registry, event(register("a", words)), register("a", words), OPTIONS);
  assert.deepEqual(unsigned.registered, { type: "REGISTERED", rq: "a-r", extensions: ["from"] });
  const signed = admit(registry, event(register("a", words), true), register("a", words), OPTIONS);
  assert.deepEqual(signed.registered, {
    type: "REGISTERED",
    rq: "a-r",
    extensions: ["from", "auth"],
  });
  assert.ok(signed.admission.kind === "admit" && signed.admission.peer.auth?.key === "k1");
  const classic = admit(registry, event(register("c")), register("c"), OPTIONS);
  assert.deepEqual(classic.registered, { type: "REGISTERED", rq: "c-r" });
});

Deno.test("admit confirms a repeat, denies a taken name and a full server", () => {
  const registry = new Registry();
  const first = admit(registry, event(register("a")), register("a"), OPTIONS);
  assert.ok(first.admission.kind === "admit");
  registry.add(first.admission.peer);
  assert.equal(
    admit(registry, event(register("a")), register("a"), OPTIONS).admission.kind,
    "confirm",
  );
  const moved = { ...register("a"), tcpPort: 7000 };
  assert.deepEqual(admit(registry, event(moved), moved, OPTIONS).admission, {
    kind: "deny",
    reason: "name a in use",
  });
  registry.add({ ...first.admission.peer, name: "b" });
  assert.deepEqual(admit(registry, event(register("c")), register("c"), OPTIONS).admission, {
    kind: "deny",
    reason: "the server is full (2 peers)",
  });
});

Deno.test("admit refuses classic peers unless plaintext is allowed", () => {
  const { admission } = admit(new Registry(), event(register("a")), register("a"), {
    ...OPTIONS,
    allowPlaintext: false,
  });
  assert.ok(admission.kind === "deny" && admission.reason.startsWith("auth required"));
});

Deno.test("the returning key-holder keeps its registration time and is logged as moved", () => {
  const registry = new Registry();
  const first = admit(registry, event(register("a"), true), register("a"), OPTIONS);
  assert.ok(first.admission.kind === "admit");
  registry.add(first.admission.peer);
  const again = admit(
    registry,
    { ...event(register("a"), true), at: 99 },
    register("a"),
    OPTIONS,
  );
  assert.ok(again.admission.kind === "admit");
  assert.equal(again.admission.peer.registeredAt, 5);
  assert.equal(again.admission.replaces, first.admission.peer);
  assert.match(describeAdmission(again.admission.peer, true), /^a proved its key/);
  assert.match(describeAdmission(first.admission.peer, false), /, classic$/);
});
