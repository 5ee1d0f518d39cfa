/**
 * The floor: a stand-in for `shop server` that does nothing but UDP, run as
 * its own process by the bench. It answers `REGISTER rq …` with
 * `REGISTERED rq` at once (no state, no KV), and answers `FANOUT rq n` by
 * sending `SEARCH rq …` to the first n ports of the JSON list in its
 * argument, the way the server sends a fan-out (one `send` per datagram,
 * not awaited one by one). What the bench measures against it is the most
 * that this harness and Deno's UDP allow on this machine: the server's
 * figures are read against it.
 *
 * Prints `floor listening on 127.0.0.1:PORT`; stops on SIGTERM, or by
 * itself after ten minutes.
 *
 * @module
 */

const LIFETIME_MS = 10 * 60_000;
const utf8 = new TextEncoder();
const text = new TextDecoder();

const ports: number[] = Deno.args[0] ? JSON.parse(await Deno.readTextFile(Deno.args[0])) : [];
const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
let closing = false;
const close = () => {
  closing = true;
  socket.close();
};
Deno.addSignalListener("SIGTERM", close);
setTimeout(close, LIFETIME_MS);
console.log(`floor listening on 127.0.0.1:${(socket.addr as Deno.NetAddr).port}`);

const buffer = new Uint8Array(2048);
while (!closing) {
  let data: Uint8Array;
  let from: Deno.NetAddr;
  try {
    let addr: Deno.Addr;
    [data, addr] = await socket.receive(buffer);
    from = addr as Deno.NetAddr;
  } catch {
    continue;
  }
  const words = text.decode(data).split(" ");
  if (words[0] === "REGISTER") {
    socket.send(utf8.encode(`REGISTERED ${words[1]}`), from).catch(() => {});
  } else if (words[0] === "FANOUT") {
    const search = utf8.encode(`SEARCH ${words[1]} Lamp a brass desk lamp`);
    const count = Math.min(Number(words[2]), ports.length);
    for (let i = 0; i < count; i++) {
      socket.send(search, { transport: "udp", hostname: "127.0.0.1", port: ports[i]! })
        .catch(() => {});
    }
  }
}
Deno.exit(0);
