import assert from "node:assert/strict";
import { checkListen, listenError, type PlannedListen } from "./listen_check.ts";

const plan = (transport: "udp" | "tcp", port: number, hostname = "127.0.0.1"): PlannedListen => ({
  transport,
  hostname,
  port,
  portOption: "--port",
  hostOption: "--host",
});

Deno.test("checkListen names a UDP port in use and the option that changes it", () => {
  const taken = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    assert.equal(
      checkListen([plan("udp", port)]),
      `Cannot listen on UDP 127.0.0.1:${port}: the port is in use (give another with --port)`,
    );
  } finally {
    taken.close();
  }
});

Deno.test("checkListen names a TCP port in use", () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = taken.addr;
  assert.equal(
    checkListen([plan("udp", 0), plan("tcp", port)]),
    `Cannot listen on TCP 127.0.0.1:${port}: the port is in use (give another with --port)`,
  );
});

Deno.test("checkListen passes free ports and leaves them free", () => {
  assert.equal(checkListen([plan("udp", 0), plan("tcp", 0)]), undefined);
});

Deno.test("listenError says an address is not this machine's", () => {
  assert.equal(
    listenError(new Deno.errors.AddrNotAvailable("x (os error 99)"), plan("udp", 5000, "::2")),
    "Cannot listen on UDP [::2]:5000: the address is not one of this machine's (give another with --host)",
  );
});

Deno.test("checkListen names a page's port in use with the --web address that changes it", () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = taken.addr;
  const page: PlannedListen = { ...plan("tcp", port), portOption: "--web", serves: "the page" };
  assert.equal(
    checkListen([page]),
    `Cannot listen on 127.0.0.1:${port} for the page: the port is in use; choose another with --web 127.0.0.1:PORT`,
  );
  assert.equal(
    listenError(new Deno.errors.AddrInUse("x"), { ...page, hostname: "::1", port: 8080 }),
    "Cannot listen on [::1]:8080 for the page: the port is in use; choose another with --web [::1]:PORT",
  );
});
