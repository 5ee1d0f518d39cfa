/**
 * 100,000 hostile datagrams against a real server: random bytes, truncated
 * and mutated valid messages, and valid messages out of place. Afterwards
 * the server must be up, answer correctly, hold exactly the state it had,
 * and have stayed within a memory bound.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess, tempDir } from "./_process.ts";
import { Random } from "./_random.ts";
import { RawUdp } from "./_udp.ts";

const DATAGRAMS = 100_000;

async function kvEntries(dataDir: string): Promise<[Deno.KvKey, unknown][]> {
  using kv = await Deno.openKv(join(dataDir, "server.kv"));
  const entries: [Deno.KvKey, unknown][] = [];
  for await (const entry of kv.list({ prefix: [] })) {
    // Who holds the store (each start claims it anew) is not the market's state.
    if (entry.key[0] === "owner") continue;
    entries.push([entry.key, entry.value]);
  }
  return entries;
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]);
}

async function askWithRetries(socket: RawUdp, text: string): Promise<string> {
  for (let attempt = 1;; attempt++) {
    try {
      return await socket.ask(text, 1_000);
    } catch (error) {
      if (attempt === 20) throw error;
    }
  }
}

/** Receives until a datagram of this type arrives. */
async function expect(socket: RawUdp, type: string): Promise<string[]> {
  for (let i = 0; i < 20; i++) {
    const words = (await socket.receive()).split(" ");
    if (words[0] === type) return words;
  }
  throw new Error(`no ${type}`);
}

/** One mutation of a valid message: a flipped byte, a cut, a swapped or doubled word. */
function mutate(random: Random, text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  switch (random.int(0, 4)) {
    case 0:
      return bytes.subarray(0, random.int(0, bytes.length - 1));
    case 1: {
      const copy = bytes.slice();
      copy[random.int(0, copy.length - 1)] = random.int(0, 255);
      return copy;
    }
    case 2: {
      const words = text.split(" ");
      const i = random.int(0, words.length - 1);
      words[i] = random.pick(["-1", "abc", "", "99999", "\u0000", "x".repeat(200), "1e9"]);
      return new TextEncoder().encode(words.join(" "));
    }
    case 3: {
      const words = text.split(" ");
      words.splice(random.int(0, words.length), 0, random.pick(words));
      return new TextEncoder().encode(words.join(" "));
    }
    default:
      return new TextEncoder().encode(`${text}${" x".repeat(random.int(1, 700))}`);
  }
}

Deno.test({
  name: "100,000 hostile datagrams change nothing and the server stays up within bounded memory",
  async fn() {
    await using dir = await tempDir();
    const long = ["--offer-window", "10m", "--reserve-timeout", "10m", "--search-timeout", "10m"];
    const first = await ServerProcess.start(dir.path, ...long);
    using alice = new RawUdp(first.port);
    using bob = new RawUdp(first.port);
    assert.equal(
      await alice.ask(`REGISTER a1 alice 127.0.0.1 ${alice.port} 40001`),
      "REGISTERED a1",
    );
    assert.equal(await bob.ask(`REGISTER b1 bob 127.0.0.1 ${bob.port} 40002`), "REGISTERED b1");
    // One purchase at FOUND (bob is the only seller asked, so it is decided
    // on his offer), one search still open.
    await alice.send("LOOKING_FOR 1 alice Lamp a lamp 30");
    const search = await expect(bob, "SEARCH");
    await bob.send(`OFFER ${search[1]} bob Lamp 25`);
    assert.deepEqual(await expect(alice, "FOUND"), ["FOUND", "1", "Lamp", "25"]);
    await alice.send("LOOKING_FOR 2 alice Vase 10");
    const vase = await expect(bob, "SEARCH");
    await first.kill("SIGTERM");
    const before = await kvEntries(dir.path);
    assert.equal(before.filter(([key]) => key[0] === "request").length, 2);

    const server = await ServerProcess.restart(first, dir.path, ...long);
    try {
      const rssBefore = await rssKiB(server.pid);
      // Another host: a classic peer's requests are taken from any port of
      // its own IP, so "from elsewhere" means from another address.
      using fuzzer = new RawUdp(server.port, 0, "127.0.0.2");
      const random = new Random(7);
      const valid = [
        `REGISTER f1 alice 127.0.0.1 ${fuzzer.port} 1`, // a name in use
        "DE-REGISTER f2 bob", // not from bob's address
        `OFFER ${search[1]} bob Lamp 1`, // bob's name from elsewhere
        `OFFER ${vase[1]} alice Vase 1`, // the buyer offering to herself
        "OFFER nosuch bob Lamp 1", // an unknown search
        `ACCEPT ${search[1]} Lamp 30`, // nobody negotiated with the fuzzer
        `REFUSE ${vase[1]} Vase 10`,
        "BUY 1 Lamp 25", // alice's purchase, from another address
        "CANCEL 1 Lamp 25",
        `NO_OFFER ${vase[1]} bob Vase`,
        "LOOKING_FOR f3 bob Lamp 30", // bob's name from elsewhere
        `ACK ${search[1]} SEARCH`,
        "REGISTERED f4",
        "FOUND 1 Lamp 1",
      ];
      const counts = { random: 0, mutated: 0, outOfPlace: 0 };
      const rssAt: number[] = [];
      for (let i = 0; i < DATAGRAMS; i++) {
        if (i % (DATAGRAMS / 4) === 0) rssAt.push(await rssKiB(server.pid));
        const kind = random.int(0, 2);
        if (kind === 0) {
          await fuzzer.send(random.bytes(random.int(0, 1400)));
          counts.random++;
        } else if (kind === 1) {
          await fuzzer.send(mutate(random, random.pick(valid)));
          counts.mutated++;
        } else {
          await fuzzer.send(random.pick(valid));
          counts.outOfPlace++;
        }
        // Give the server a moment now and then, as a real flood has gaps.
        if (i % 2_000 === 1_999) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(
        Object.values(counts).every((count) => count > DATAGRAMS / 4),
        JSON.stringify(counts),
      );

      // Still up and answering correctly.
      using probe = new RawUdp(server.port);
      assert.equal(
        await askWithRetries(probe, `REGISTER p1 alice 127.0.0.1 ${probe.port} 40001`),
        "REGISTER-DENIED p1 name alice in use",
      );
      assert.equal(
        await askWithRetries(alice, `REGISTER a1 alice 127.0.0.1 ${alice.port} 40001`),
        "REGISTERED a1",
      );
      rssAt.push(await rssKiB(server.pid));
      console.log(`RSS before ${rssBefore} KiB, during and after: ${rssAt.join(", ")} KiB`);
      // Bounded: the caches are capped, and nothing else may grow with junk.
      // The heap grows early on (until the garbage collector settles); what
      // matters is that the second half of the flood adds little.
      const lateGrowth = rssAt.at(-1)! - rssAt[2]!;
      assert.ok(lateGrowth < 48 * 1024, `RSS grew by ${lateGrowth} KiB over the second half`);
    } finally {
      const status = await server.kill("SIGTERM");
      assert.equal(status.code, 0, server.stderr.slice(-5).join("\n"));
    }
    assert.deepEqual(await kvEntries(dir.path), before);
  },
});
