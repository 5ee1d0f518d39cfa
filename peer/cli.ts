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
import { checkListen, listenError } from "../shell/listen_check.ts";
import { openDataDir, warnFixedModes } from "../shell/startup.ts";
import { z } from "zod";
import {
  duration,
  formatDuration,
  fromZod,
  hostPort,
  logLevel,
  peerName,
  port,
  shownAs,
} from "../cli/value_parsers.ts";
import { StoreUnavailable } from "../shell/commit_queue.ts";
import { logger, setupLogging, shutdownLogging } from "../log/setup.ts";
import { formatMoney } from "../protocol/money.ts";
import type { Agent, Output } from "./agent.ts";
import { parseCommand } from "./commands.ts";
import { editedLines, LineEditor } from "./line_editor.ts";
import { readLines } from "./lines.ts";
import { Session, untilSignal } from "./script.ts";
import { type PaymentDetails, readPaymentFile } from "./payment.ts";
import { parseServerKey } from "./guard.ts";
import { ShopPeer } from "./peer.ts";
import { pageListen, webAddress } from "../web/address.ts";
import { DEFAULT_PAYMENT_TIMEOUT_MS, pageInput, PeerPage } from "./web/mod.ts";

/** A `--server-key` value: the base64url of the server's raw P-256 public key. */
const ServerKey = z.string().refine((text) => {
  try {
    parseServerKey(text);
    return true;
  } catch {
    return false;
  }
}, "expected the server's public key, 87 base64url characters");

/** How long the store may fail before the peer stops, unless `--store-timeout` says. */
const DEFAULT_STORE_TIMEOUT = 30_000;

/** The `shop peer` command line. */
export const peerCommand = command(
  "peer",
  object({
    command: constant("peer"),
    name: option("--name", peerName(), {
      description:
        message`This peer's name in the marketplace: letters a-z or A-Z, digits, _ and -, at most 32.`,
    }),
    server: option("--server", hostPort(), {
      description: message`The server's UDP address.`,
    }).withDefault({ hostname: "127.0.0.1", port: 5000 }, shownAs("127.0.0.1:5000")),
    host: option("--host", string({ metavar: "HOST" }), {
      description: message`Address to bind the peer's sockets to.`,
    }).withDefault("0.0.0.0", shownAs("0.0.0.0")),
    udpPort: option("--udp-port", port(), {
      description: message`UDP port for the server's messages (0 picks a free one).`,
    }).withDefault(0, shownAs("0")),
    tcpPort: option("--tcp-port", port(), {
      description: message`TCP port for the purchase transaction (0 picks a free one).`,
    }).withDefault(0, shownAs("0")),
    data: option("--data", string({ metavar: "DIR" }), {
      description: message`Directory for NAME.kv and NAME.log.`,
    }).withDefault("./shop-data", shownAs("./shop-data")),
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
    stay: flag("--stay", {
      description:
        message`Stay online after the end of standard input, until SIGINT or SIGTERM: for a seller or a service run without a terminal.`,
    }).withDefault(false),
    json: flag("--json", {
      description: message`Print one JSON object per line instead of readable text.`,
    }).withDefault(false),
    logLevel: option("--log-level", logLevel(), {
      description:
        message`Lowest level of log lines shown on standard error (all of them go to NAME.log).`,
    }).withDefault("warning", shownAs("warning")),
    storeTimeout: option("--store-timeout", duration(), {
      description:
        message`How long NAME.kv may keep failing to store the peer's state (a full disk) before the peer stops with exit 1; meanwhile nothing is shown or sent.`,
    }).withDefault(DEFAULT_STORE_TIMEOUT, shownAs(formatDuration(DEFAULT_STORE_TIMEOUT))),
    web: optional(option("--web", webAddress(), {
      description:
        message`Also serve a page at [HOST:]PORT (host 127.0.0.1 by default; port 0 picks one) and print its URL with a token. Standard input keeps working; its end no longer stops the peer (quit or a signal does).`,
    })),
    transactionTimeout: option("--transaction-timeout", duration(), {
      description:
        message`The server's --transaction-timeout: how long a payment question may wait before the server cancels the sale. The page counts it down.`,
    }).withDefault(DEFAULT_PAYMENT_TIMEOUT_MS, shownAs(formatDuration(DEFAULT_PAYMENT_TIMEOUT_MS))),
  }),
  {
    brief: message`Run a buyer and seller peer.`,
    description:
      message`Run a peer: it reads commands line by line from standard input (a terminal or a pipe) and prints every reply and event on standard output, errors on standard error (with --json, every event is a JSON line on standard output). Type help for the commands.`,
  },
);

/** Parsed `shop peer` options. */
export type PeerCommand = InferValue<typeof peerCommand>;

/** Writes an output as a text line, or as a JSON line with `--json`. */
export function formatOutput(output: Output, json: boolean): string {
  return json
    ? JSON.stringify({ event: output.event, ...(output.fields ?? { message: output.text }) })
    : output.text;
}

/** Prints outputs as text lines, or as JSON lines with `--json`. */
export function printer(json: boolean): (output: Output) => void {
  return (output) => console.log(formatOutput(output, json));
}

/** The `questions` command, answered by the shell from the agent's queue. */
export function questionsOutput(agent: Agent): Output {
  const questions = agent.questions;
  if (questions.length === 0) {
    return { event: "questions", text: "No questions waiting", fields: { questions: [] } };
  }
  const requests = new Map(agent.requests.map((request) => [request.rq, request]));
  const described = questions.map((question, i) => {
    const request = requests.get(question.rq);
    const what = question.about === "FOUND"
      ? `buy ${request?.foundItem ?? request?.item ?? "?"}${
        request?.price === undefined ? "" : ` at ${formatMoney(request.price)}`
      }${request?.seller ? ` from ${request.seller}` : ""}? (search ${question.rq})`
      : question.about === "NEGOTIATE"
      ? `accept a lower price? (NEGOTIATE ${question.rq})`
      : `payment details: ${question.about.toLowerCase()} (transaction ${question.rq})`;
    return `  ${i + 1}. ${what}${i === 0 ? "  <- answered by the next line" : ""}`;
  });
  return {
    event: "questions",
    text: `${questions.length} question(s) waiting, the first one asked:\n${described.join("\n")}`,
    fields: { questions: questions.map(({ about, rq }) => ({ about, rq })) },
  };
}

/** Writes all of a text to standard output at once (the editor's screen updates). */
function writeStdout(text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let done = 0; done < bytes.length;) done += Deno.stdout.writeSync(bytes.subarray(done));
}

/** Writes all of a text to standard error at once (errors, above the line being typed). */
function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let done = 0; done < bytes.length;) done += Deno.stderr.writeSync(bytes.subarray(done));
}

/** The terminal's width, 80 when it cannot be told. */
function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}

/**
 * Runs a peer until `quit` or the end of standard input (or, with
 * `--stay`, until SIGINT or SIGTERM).
 *
 * @returns The exit code: 1 when it cannot start, or when a session read
 *   from a pipe printed an error.
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
  // The ports are looked at before the data directory is made or touched.
  const busy = checkListen([
    {
      transport: "udp",
      hostname: options.host,
      port: options.udpPort,
      portOption: "--udp-port",
      hostOption: "--host",
    },
    {
      transport: "tcp",
      hostname: options.host,
      port: options.tcpPort,
      portOption: "--tcp-port",
      hostOption: "--host",
    },
    ...(options.web ? [pageListen(options.web, "the page")] : []),
  ]);
  if (busy !== undefined) {
    console.error(`Error: ${busy}`);
    return 1;
  }
  const opened = await openDataDir(options.data, { name: options.name, what: options.name });
  if (typeof opened === "number") return opened;
  // A terminal gets a prompt and line editing; a pipe gets plain lines.
  const terminal = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
  const colors = terminal && !Deno.noColor;
  const editor = terminal
    ? new LineEditor({
      write: writeStdout,
      writeError: writeStderr,
      columns: terminalColumns,
      prompt: colors ? `\x1b[1m${options.name}>\x1b[22m ` : `${options.name}> `,
    })
    : undefined;
  await setupLogging({
    file: join(options.data, `${options.name}.log`),
    consoleLevel: options.logLevel,
    ...(editor ? { consoleWrite: (line: string) => editor.print(line) } : {}),
  });
  const log = logger("peer");
  warnFixedModes(log, opened.prepared);
  const session = new Session();
  /**
   * Shows an event on the terminal only. Errors go to standard error, but
   * with --json, whose every event is a line on standard output.
   */
  const show = (output: Output) => {
    session.saw(output);
    const text = formatOutput(output, options.json);
    const error = output.event === "error" && !options.json;
    if (editor) editor.print(text, { error });
    else if (error) console.error(text);
    else console.log(text);
  };
  let page: PeerPage | undefined;
  const print = (output: Output) => {
    show(output);
    page?.print(output);
  };
  const secretInput = (secret: boolean) => {
    if (editor) editor.secret = secret;
  };
  const answering = (answering: boolean) => {
    if (editor) editor.answering = answering;
  };
  let peer: ShopPeer;
  let pageStarted = false;
  try {
    page = options.web
      ? PeerPage.start({ ...options.web, paymentTimeoutMs: options.transactionTimeout })
      : undefined;
    pageStarted = true;
    peer = await ShopPeer.start({
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
      answering,
      serverKey: options.serverKey,
      allowPlaintext: options.allowPlaintext,
      storeTimeout: options.storeTimeout,
    });
  } catch (error) {
    log.error("Peer failed to start: {error}", { error: String(error) });
    await page?.[Symbol.asyncDispose]();
    await shutdownLogging();
    // A start that failed leaves no data directory it made.
    await opened.discard();
    const why = !pageStarted && options.web
      ? listenError(error, pageListen(options.web, "the page"))
      : error instanceof Deno.errors.AddrInUse
      ? `Cannot listen on ${options.host}: a port is in use (give others with --udp-port and --tcp-port)`
      : `Cannot start ${options.name}: ${String(error)}`;
    console.error(`Error: ${why}`);
    return 1;
  }
  using _held = opened;
  using signal = untilSignal();
  try {
    await using _page = page;
    await using _peer = peer;
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
      show({ event: "web", text: `Page: ${page.url}`, fields: { url: page.url } });
    }
    log.debug("Peer {name} started on UDP {udp}, TCP {tcp}", { name: options.name, udp, tcp });
    if (editor) Deno.stdin.setRaw(true);
    const typed = editor
      ? editedLines(Deno.stdin.readable, editor)
      : readLines(Deno.stdin.readable);
    // Ctrl-D on an empty line is a terminal's way out, page or not: only
    // the end of a pipe leaves a peer with a page running.
    const input = page ? pageInput(page, editor ? quitAtEnd(typed) : typed) : typed;
    await peer.run(session.lines(input, {
      // A terminal stays live while a registration waits: the agent
      // queues what needs it, and help, status and quit run at once.
      hold: !terminal,
      stay: options.stay,
      stopped: signal.signalled,
      onStay: () =>
        print({
          event: "staying",
          text: `End of input: ${options.name} stays online until SIGINT or SIGTERM (--stay)`,
        }),
      answer: (line) => {
        const parsed = parseCommand(line);
        if (!(parsed.ok && parsed.command?.name === "questions")) return false;
        print(questionsOutput(peer.agent));
        return true;
      },
    }));
    const pending = peer.agent.pendingWork;
    if (terminal && pending !== undefined) {
      show({
        event: "leaving",
        text: `Leaving with ${pending}; start ${options.name} again to follow them up`,
        fields: { pending },
      });
    }
    log.debug("Peer {name} stopped", { name: options.name });
    // A script learns from the exit code that something went wrong.
    return !terminal && session.errors > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof StoreUnavailable) {
      // Nothing it could not store was told; a restart goes on from what it did.
      console.error(`Error: ${options.name} stopped: ${error.message}`);
      return 1;
    }
    log.error("Peer failed: {error}", { error: String(error) });
    return 1;
  } finally {
    editor?.finish();
    if (editor) Deno.stdin.setRaw(false);
    await shutdownLogging();
  }
}

/** The lines, then `quit`. */
async function* quitAtEnd(lines: AsyncIterable<string>): AsyncGenerator<string> {
  yield* lines;
  yield "quit";
}
