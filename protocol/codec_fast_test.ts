/**
 * The codec's shortcuts for the datagrams a busy server handles most (a
 * classic REGISTER in, REGISTERED out) give exactly what the schemas give.
 */
import assert from "node:assert/strict";
import { decode, encode } from "./codec.ts";
import { Register } from "./messages.ts";

/** What the REGISTER schema alone makes of the five classic fields. */
function bySchema(fields: readonly [string, string, string, string, string]): unknown {
  const [rq, name, ip, udpPort, tcpPort] = fields;
  const parsed = Register.safeDecode({
    type: "REGISTER",
    rq,
    name,
    ip,
    udpPort,
    tcpPort,
    extensions: "",
  });
  if (!parsed.success) return undefined;
  const message: Record<string, unknown> = { ...parsed.data };
  delete message.extensions;
  return message;
}

Deno.test("a classic REGISTER decodes as its schema decodes it", () => {
  const values = {
    rq: ["r1", "!~", "x".repeat(64), "x".repeat(65), "r\u00e91"],
    name: ["alice", "A-b_9", "9lives", "_bad", "-bad", "a".repeat(32), "a".repeat(33), "al.ice"],
    ip: ["127.0.0.1", "10.0.0.255", "256.0.0.1", "01.2.3.4", "1.2.3", "::1", "localhost"],
    port: ["1", "5000", "65535", "65536", "0", "00080", "-1", "5e3", "123456"],
  };
  let fast = 0;
  for (const rq of values.rq) {
    for (const name of values.name) {
      for (const ip of values.ip) {
        for (const udp of values.port) {
          for (const tcp of ["6001", udp]) {
            const fields = [rq, name, ip, udp, tcp] as const;
            const result = decode(`REGISTER ${fields.join(" ")}`);
            const expected = bySchema(fields);
            assert.deepEqual(result.ok ? result.message : undefined, expected, fields.join(" "));
            if (expected) fast++;
          }
        }
      }
    }
  }
  assert.ok(fast > 100);
});

Deno.test("REGISTERED is encoded as its schema encodes it", () => {
  assert.equal(encode({ type: "REGISTERED", rq: "r1" }), "REGISTERED r1");
  assert.equal(
    encode({ type: "REGISTERED", rq: "r1", extensions: ["ack"] }),
    "REGISTERED r1 shop/1 ack",
  );
  assert.throws(() => encode({ type: "REGISTERED", rq: "r 1" }), TypeError);
  assert.throws(() => encode({ type: "REGISTERED", rq: "" }), TypeError);
});
