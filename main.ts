/**
 * `shop`: a peer-to-peer shopping system speaking the P2S2 protocol.
 * This file only wires the command line to the two roles.
 *
 * @module
 */
import { or } from "@optique/core/constructs";
import { commandLine, message } from "@optique/core/message";
import { run } from "@optique/run";
import { peerCommand, runPeer } from "./peer/cli.ts";
import { runKey, runLedger, runServer, serverCommand } from "./server/cli.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The program's version, from deno.json. */
export const VERSION: string = denoJson.version;

const shop = or(serverCommand, peerCommand);

if (import.meta.main) {
  const options = run(shop, {
    programName: "shop",
    help: "both",
    version: VERSION,
    completion: "command",
    errorExitCode: 2,
    showDefault: true,
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
    : await runPeer(options);
  Deno.exit(code);
}
