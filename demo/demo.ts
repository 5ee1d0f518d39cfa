/**
 * `deno task demo`: a real server and three peers on loopback run a short,
 * scripted marketplace (listings, a straight purchase, a negotiation
 * accepted and one refused, an item not available, a cancelled purchase),
 * and the messages that crossed are told as they happen. It ends with the
 * server's ledger.
 *
 * @module
 */
import { formatMoney } from "../protocol/money.ts";
import { join } from "node:path";
import { PeerProcess, ServerProcess, ShopProcess } from "./processes.ts";

/** Colours on a terminal only: none in a pipe or a file, none with NO_COLOR. */
const colors = Deno.stdout.isTerminal() && !Deno.noColor;
const bold = (text: string) => colors ? `\x1b[1m${text}\x1b[22m` : text;
const dim = (text: string) => colors ? `\x1b[2m${text}\x1b[22m` : text;

/** Tells the messages the server logged since the last call, by who sent them where. */
class Narrator {
  readonly #server: ShopProcess;
  readonly #names = new Map<number, string>();
  #seen = 0;

  constructor(server: ShopProcess) {
    this.#server = server;
  }

  /** Names a peer's ports so lines say `alice`, not `127.0.0.1:40123`. */
  know(name: string, ports: { udpPort: number; tcpPort: number }): void {
    this.#names.set(ports.udpPort, name);
    this.#names.set(ports.tcpPort, name);
  }

  /** Prints the wire lines logged since the last call. */
  flush(): void {
    const lines = this.#server.stderr;
    for (; this.#seen < lines.length; this.#seen++) {
      const match = lines[this.#seen]!.match(
        /shop\.server\.wire: (send|recv)( tcp (?:buyer|seller))? \S+?:(\d+) (.*)$/,
      );
      if (!match) continue;
      const [, direction, tcp, port, text] = match;
      const peer = this.#names.get(Number(port)) ?? `port ${port}`;
      const arrow = direction === "recv" ? `${peer} → server` : `server → ${peer}`;
      console.log(`    ${dim(`${arrow}${tcp ? " (TCP)" : ""}`.padEnd(26))} ${shorten(text!)}`);
    }
  }
}

/** Long key and signature tokens, shortened for reading. */
function shorten(text: string): string {
  return text.replace(/\b(key|dh|ca|sig)=([A-Za-z0-9_-]{10})[A-Za-z0-9_-]+/g, "$1=$2…").replace(
    / ts=\S+/,
    " ts=…",
  );
}

async function step(title: string, narrator: Narrator, action: () => Promise<void>): Promise<void> {
  console.log(`\n${bold(title)}`);
  await action();
  // Let the last messages of the step reach the log.
  await new Promise((resolve) => setTimeout(resolve, 300));
  narrator.flush();
}

function say(peer: string, line: string): void {
  console.log(`  ${bold(peer)}> ${line}`);
}

async function main(): Promise<number> {
  // `--keep` keeps the data and logs for reading afterwards.
  const keep = Deno.args.includes("--keep");
  const dir = await Deno.makeTempDir({ prefix: "shop-demo-" });
  const payments: Record<string, string> = {
    alice: "4111111111111111",
    bob: "5555555555554444",
    carol: "378282246310005",
  };
  const processes: ShopProcess[] = [];
  try {
    console.log(bold("shop demo: a server and three peers on 127.0.0.1"));
    console.log(dim(
      keep
        ? `data and logs in ${dir} (kept)`
        : `data and logs in ${dir} (removed at the end; deno task demo --keep keeps them)`,
    ));
    const server = await ServerProcess.start(
      dir,
      "--log-level",
      "debug",
      "--offer-window",
      "300ms",
      "--search-timeout",
      "1s",
      "--negotiation-timeout",
      "5s",
    );
    processes.push(server);
    const narrator = new Narrator(server);
    const peers: Record<string, PeerProcess> = {};
    for (const [name, card] of Object.entries(payments)) {
      const file = join(dir, `${name}-payment.json`);
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          card,
          expiry: "12/39",
          address: `${name[0]!.toUpperCase()}${name.slice(1)} House, 1 Demo Street`,
        }),
      );
      const peer = await PeerProcess.start(name, server.port, dir, "--payment", file);
      processes.push(peer);
      peers[name] = peer;
    }
    const { alice, bob, carol } = peers as Record<"alice" | "bob" | "carol", PeerProcess>;

    await step("1. alice, bob and carol register", narrator, async () => {
      for (const [name, peer] of Object.entries(peers)) {
        const ready = JSON.parse(peer.lines[0]!);
        narrator.know(name, ready);
        say(name, "register");
        await peer.command("register", "REGISTERED");
      }
    });

    await step("2. Listings", narrator, async () => {
      for (
        const [peer, line] of [
          ["alice", "sell Laptop 900 a light laptop --floor 800"],
          ["alice", "sell Phone 500 --floor 450"],
          ["bob", "sell Lamp 25 brass desk lamp"],
          ["carol", "sell Camera 300 mirrorless camera"],
        ] as const
      ) {
        say(peer, line);
        await peers[peer]!.command(line, "sell");
      }
    });

    await step("3. A straight purchase: carol buys a lamp", narrator, async () => {
      say("carol", "buy Lamp 30");
      await carol.send("buy Lamp 30");
      const question = await carol.waitEvent("prompt");
      console.log(`  carol is asked: ${question.question}`);
      say("carol", "y");
      await carol.send("y");
      const sold = await bob.waitEvent("Shipping_Info");
      console.log(
        `  bob sold the ${sold.item} for ${formatMoney(Number(sold.price))}, gets ${
          formatMoney(Number(sold.credit))
        }; ships to ${sold.address}`,
      );
    });

    await step(
      "4. A negotiation accepted: bob offers 850 for alice's laptop (her floor is 800)",
      narrator,
      async () => {
        say("bob", "buy Laptop 850");
        await bob.send("buy Laptop 850");
        const accept = await alice.waitEvent("ACCEPT");
        console.log(`  alice's floor accepts ${formatMoney(Number(accept.maxPrice))}`);
        await bob.waitEvent("prompt");
        say("bob", "y");
        await bob.send("y");
        const sold = await alice.waitEvent("Shipping_Info");
        console.log(
          `  alice sold the ${sold.item} for ${formatMoney(Number(sold.price))}, gets ${
            formatMoney(Number(sold.credit))
          }; ships to ${sold.address}`,
        );
      },
    );

    await step(
      "5. A negotiation refused: bob offers 400 for the phone (floor 450)",
      narrator,
      async () => {
        say("bob", "buy Phone 400");
        await bob.send("buy Phone 400");
        await alice.waitEvent("REFUSE");
        const reply = await bob.waitEvent("NOT_FOUND");
        console.log(
          `  bob: no seller accepted ${formatMoney(Number(reply.maxPrice))} for the ${reply.item}`,
        );
      },
    );

    await step("6. Not available: alice looks for a unicorn", narrator, async () => {
      say("alice", "buy Unicorn 100");
      await alice.send("buy Unicorn 100");
      await alice.waitEvent("NOT_AVAILABLE");
      console.log("  alice: nobody offers a unicorn");
    });

    await step(
      "7. A cancelled purchase: alice is offered carol's camera and says no",
      narrator,
      async () => {
        say("alice", "buy Camera 350");
        await alice.send("buy Camera 350");
        const question = await alice.waitEvent("prompt", {
          where: (event) => event.about === "FOUND",
        });
        console.log(`  alice is asked: ${question.question}`);
        say("alice", "n");
        await alice.send("n");
        await carol.waitEvent("CANCEL");
        console.log("  carol's camera is for sale again");
      },
    );

    console.log(`\n${bold("8. The ledger (shop server ledger)")}`);
    for (const peer of Object.values(peers)) await peer.closeInput();
    await server.kill("SIGTERM");
    const ledger = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        new URL("../main.ts", import.meta.url).pathname,
        "server",
        "ledger",
        "--data",
        dir,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    return ledger.code;
  } finally {
    await Promise.all(processes.map((process) => process[Symbol.asyncDispose]()));
    if (keep) console.log(dim(`\nThe data and logs are in ${dir}`));
    else {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      console.log(dim(`\nRemoved ${dir}`));
    }
  }
}

if (import.meta.main) Deno.exit(await main());
