/**
 * `shop`: a peer-to-peer shopping system speaking the P2S2 protocol.
 * This file only wires the command line to the two roles.
 *
 * @module
 */
import { or } from "@optique/core/constructs";
import { commandLine, message } from "@optique/core/message";
import { run } from "@optique/run";
import { subcommandOf, unexpectedInput, usageHint } from "./cli/usage.ts";
import { peerCommand, runPeer } from "./peer/cli.ts";
import {
  runKey,
  runLedger,
  runMigrate,
  runServer,
  serverCommand,
  serverUsages,
} from "./server/cli.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The program's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** What `--version` and `-V` print: the program, its version and the Deno that runs it. */
export const VERSION_LINE = `shop ${VERSION} (Deno ${Deno.version.deno})`;

/** What `shop` alone prints: what it is, its two commands, where to read more. */
export const OVERVIEW = `shop: a peer-to-peer marketplace (P2S2 protocol)

  shop server             Run the marketplace server
  shop peer --name NAME   Run a buyer and seller peer

Run shop --help for more`;

/** Exit code of a usage error (clig.dev, BSD sysexits' EX_USAGE aside). */
const USAGE_ERROR = 2;

const SUBCOMMANDS = [...serverUsages, { path: ["peer"], usage: peerCommand.usage }];

// The top-level or() reports every word no command took (optique's own
// "did you mean" there knows only the command names): say what the typed
// command has that is closest.
const shop = or(serverCommand, peerCommand, {
  errors: {
    unexpectedInput: (token) => unexpectedInput(token, Deno.args, SUBCOMMANDS).message,
  },
});

if (import.meta.main) {
  if (Deno.args.length === 0) {
    console.error(OVERVIEW);
    Deno.exit(USAGE_ERROR);
  }
  const colors = Deno.stderr.isTerminal() && !Deno.env.get("NO_COLOR");
  let failed = false;
  // An error that guessed what was meant needs no usage line after it.
  let guessed = false;
  const options = run(shop, {
    programName: "shop",
    help: { option: { names: ["--help", "-h"] }, command: true },
    version: { value: VERSION_LINE, option: { names: ["--version", "-V"] } },
    completion: "command",
    errorExitCode: USAGE_ERROR,
    showDefault: true,
    showChoices: true,
    aboveError: "none",
    stderr: (text) => {
      failed = true;
      guessed = text.includes(": did you mean ");
      console.error(text);
    },
    onExit: (code) => {
      if (failed && code !== 0) {
        const width = Deno.stderr.isTerminal() ? Deno.consoleSize().columns : undefined;
        console.error(
          usageHint("shop", subcommandOf(Deno.args, SUBCOMMANDS), {
            colors,
            maxWidth: width,
            usage: !guessed,
          }),
        );
      }
      Deno.exit(code);
    },
    brief: message`shop: a peer-to-peer marketplace (P2S2 protocol).`,
    footer: message`Run ${commandLine("shop server")} once, then ${
      commandLine("shop peer --name NAME")
    } for each user.`,
  });
  const code = options.command === "server"
    ? await runServer(options)
    : options.command === "ledger"
    ? await runLedger(options)
    : options.command === "key"
    ? await runKey(options)
    : options.command === "migrate"
    ? await runMigrate(options)
    : await runPeer(options);
  Deno.exit(code);
}
