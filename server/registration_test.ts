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
  namesPerHost: 0,
  classicNamesPerHost: 0,
  namesPerKey: 0,
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

Deno.test("names are capped per host, classic names lower, and per key", () => {
  const registry = new Registry();
  const options = {
    ...OPTIONS,
    maxPeers: 100,
    namesPerHost: 3,
    classicNamesPerHost: 2,
    namesPerKey: 1,
  };
  const from = (port: number, host = "127.0.0.1") => ({ hostname: host, port });
  const classic = (name: string, port: number, host?: string) => {
    const message = { ...register(name), udpPort: port };
    return admit(registry, { ...event(message), from: from(port, host) }, message, options);
  };
  const signed = (name: string, key: string, port: number) => {
    const message = { ...register(name, ["from", "auth"]), udpPort: port };
    const base = event(message, true);
    const proof = { key, ca: "ca", ts: 1 };
    return admit(
      registry,
      { ...base, from: from(port), registration: { proof, keys: {} as never } },
      message,
      options,
    );
  };
  const add = (result: ReturnType<typeof admit>) => {
    assert.equal(result.admission.kind, "admit");
    if (result.admission.kind === "admit") registry.add(result.admission.peer);
  };
  add(classic("c1", 7001));
  add(classic("c2", 7002));
  assert.deepEqual(classic("c3", 7003).admission, {
    kind: "deny",
    reason: "too many classic names from 127.0.0.1 (2)",
  });
  assert.equal(classic("c3", 7003, "127.0.0.2").admission.kind, "admit", "another host");
  add(signed("s1", "k1", 7010));
  assert.deepEqual(signed("s2", "k2", 7011).admission, {
    kind: "deny",
    reason: "too many names from 127.0.0.1 (3)",
  });
  // The holder of a name coming back is no new name for its host or key.
  const back = signed("s1", "k1", 7012);
  assert.equal(back.admission.kind, "admit");
  assert.equal(back.admission.kind === "admit" && back.admission.peer.auth?.ts, 1);
});

Deno.test("names per key: a key holds at most its cap of names", () => {
  const registry = new Registry();
  const options = { ...OPTIONS, maxPeers: 100, namesPerKey: 1 };
  const message = register("k-first", ["auth"]);
  const first = admit(registry, event(message, true), message, options);
  assert.equal(first.admission.kind, "admit");
  if (first.admission.kind === "admit") registry.add(first.admission.peer);
  const other = { ...register("k-second", ["auth"]), udpPort: 6100 };
  const second = admit(
    registry,
    { ...event(other, true), from: { hostname: "127.0.0.1", port: 6100 } },
    other,
    options,
  );
  assert.deepEqual(second.admission, { kind: "deny", reason: "too many names for this key (1)" });
});
