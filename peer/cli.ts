/**
 * `shop peer`: its options, its help, and what running it does.
 *
 * @module
 */
import { object } from "@optique/core/constructs";
import { message } from "@optique/core/message";
import { optional } from "@optique/core/modifiers";
import type { InferValue } from "@optique/core/parser";
import { command, constant, flag, option } from "@optique/core/primitives";
import { string } from "@optique/core/valueparser";
import { join } from "node:path";
import { openDataDir, warnFixedModes } from "../shell/startup.ts";
import { z } from "zod";
import { fromZod, hostPort, logLevel, port } from "../cli/value_parsers.ts";
import { logger, setupLogging, shutdownLogging } from "../log/setup.ts";
import { Name } from "../protocol/mod.ts";
import type { Output } from "./agent.ts";
import { readLines } from "./lines.ts";
import { type PaymentDetails, readPaymentFile } from "./payment.ts";
import { parseServerKey } from "./guard.ts";
import { ShopPeer } from "./peer.ts";
// --web: the peer's page (web16).
import { webAddress } from "../web/address.ts";
import { pageInput, PeerPage } from "./web/mod.ts";

/** A `--server-key` value: the base64url of the server's raw P-256 public key. */
const ServerKey = z.string().refine((text) => {
  try {
    parseServerKey(text);
    return true;
  } catch {
    return false;
  }
}, "expected the server's public key, 87 base64url characters");

/** The `shop peer` command line. */
export const peerCommand = command(
  "peer",
  object({
    command: constant("peer"),
    name: option("--name", fromZod(Name, { metavar: "NAME", placeholder: "alice" }), {
      description: message`This peer's name in the marketplace (letters, digits, _ and -).`,
    }),
    server: option("--server", hostPort(), {
      description: message`The server's UDP address.`,
    }).withDefault({ hostname: "127.0.0.1", port: 5000 }),
    host: option("--host", string({ metavar: "HOST" }), {
      description: message`Address to bind the peer's sockets to.`,
    }).withDefault("0.0.0.0"),
    udpPort: option("--udp-port", port(), {
      description: message`UDP port for the server's messages (0 picks a free one).`,
    }).withDefault(0),
    tcpPort: option("--tcp-port", port(), {
      description: message`TCP port for the purchase transaction (0 picks a free one).`,
    }).withDefault(0),
    data: option("--data", string({ metavar: "DIR" }), {
      description: message`Directory for NAME.kv and NAME.log.`,
    }).withDefault("./shop-data"),
    autoBuy: flag("--auto-buy", {
      description:
        message`Buy every FOUND at once instead of asking (set auto-buy on|off changes it).`,
    }).withDefault(false),
    payment: optional(option("--payment", string({ metavar: "FILE" }), {
      description:
        message`JSON file with the payment details sent when a sale or purchase is settled: {"card": "4111…", "expiry": "MM/YY", "address": "…"}. Without it they are asked for when needed (card and expiry without echo on a terminal).`,
    })),
    serverKey: optional(
      option("--server-key", fromZod(ServerKey, { metavar: "KEY", placeholder: "" }), {
        description:
          message`The server's public key: a server that signs with another key is refused. Without it, the key of the first server this peer registers with is pinned (trust on first use).`,
      }),
    ),
    allowPlaintext: flag("--allow-plaintext", {
      description:
        message`Send card data to a server that offers no TLS (a classic server) over plain TCP. Without it, such a purchase or sale is declined.`,
    }).withDefault(false),
    json: flag("--json", {
      description: message`Print one JSON object per line instead of readable text.`,
    }).withDefault(false),
    logLevel: option("--log-level", logLevel(), {
      description: message`Lowest level of log lines shown on standard error.`,
    }).withDefault("info"),
    web: optional(option("--web", webAddress(), {
      description:
        message`Also serve a page at [HOST:]PORT (host 127.0.0.1 by default; port 0 picks one) and print its URL with a token. Standard input keeps working; its end no longer stops the peer (quit or a signal does).`,
    })),
  }),
  {
    brief: message`Run a buyer and seller peer.`,
    description:
      message`Run a peer: it reads commands line by line from standard input (a terminal or a pipe) and prints every reply and event on standard output. Type help for the commands.`,
  },
);

/** Parsed `shop peer` options. */
export type PeerCommand = InferValue<typeof peerCommand>;

/** Prints outputs as text lines, or as JSON lines with `--json`. */
export function printer(json: boolean): (output: Output) => void {
  if (json) {
    return (output) =>
      console.log(
        JSON.stringify({ event: output.event, ...(output.fields ?? { message: output.text }) }),
      );
  }
  return (output) => console.log(output.text);
}

/**
 * Runs a peer until `quit` or the end of standard input.
 *
 * @returns The exit code.
 */
export async function runPeer(options: PeerCommand): Promise<number> {
  let payment: PaymentDetails | undefined;
  if (options.payment !== undefined) {
    // Read once; the details stay in memory and the file is never copied.
    const read = await readPaymentFile(options.payment);
    if (!read.ok) {
      console.error(`Error: ${read.error}`);
      return 2;
    }
    payment = read.details;
  }
  const terminal = Deno.stdin.isTerminal();
  let raw = false;
  const secretInput = (secret: boolean) => {
    if (!terminal || secret === raw) return;
    // Raw mode: the card and expiry are typed without echo.
    Deno.stdin.setRaw(secret);
    raw = secret;
  };
  const opened = await openDataDir(options.data, { name: options.name, what: options.name });
  if (typeof opened === "number") return opened;
  using _held = opened;
  await setupLogging({
    file: join(options.data, `${options.name}.log`),
    consoleLevel: options.logLevel,
  });
  const log = logger("peer");
  warnFixedModes(log, opened.prepared);
  const terminalPrint = printer(options.json);
  try {
    await using page = options.web ? PeerPage.start(options.web) : undefined;
    const print = page
      ? (output: Output) => (terminalPrint(output), page.print(output))
      : terminalPrint;
    await using peer = await ShopPeer.start({
      name: options.name,
      server: options.server,
      hostname: options.host,
      udpPort: options.udpPort,
      tcpPort: options.tcpPort,
      dataDir: options.data,
      print,
      autoBuy: options.autoBuy,
      payment,
      secretInput,
      serverKey: options.serverKey,
      allowPlaintext: options.allowPlaintext,
    });
    const { udp, tcp } = peer.ports;
    print({
      event: "ready",
      text:
        `${options.name} ready on UDP ${udp} and TCP ${tcp}; server ${options.server.hostname}:${options.server.port}; key ${peer.key.fingerprint}. Type help for commands.`,
      fields: {
        name: options.name,
        udpPort: udp,
        tcpPort: tcp,
        keyFingerprint: peer.key.fingerprint,
      },
    });
    if (page) {
      page.attach(peer, options.server);
      // On the terminal only: the page's log never shows the token.
      terminalPrint({ event: "web", text: `Page: ${page.url}`, fields: { url: page.url } });
    }
    log.debug("Peer {name} started on UDP {udp}, TCP {tcp}", { name: options.name, udp, tcp });
    const stdin = readLines(Deno.stdin.readable, { raw: () => raw });
    await peer.run(page ? pageInput(page, stdin) : stdin);
    log.debug("Peer {name} stopped", { name: options.name });
    return 0;
  } catch (error) {
    log.error("Peer failed: {error}", { error: String(error) });
    return 1;
  } finally {
    secretInput(false);
    await shutdownLogging();
  }
}
