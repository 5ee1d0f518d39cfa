/**
 * `shop server`: its options, its help, and what running it does.
 *
 * @module
 */
import { object, or } from "@optique/core/constructs";
import { optional } from "@optique/core/modifiers";
import { commandLine, message } from "@optique/core/message";
import type { InferValue } from "@optique/core/parser";
import { command, constant, flag, option } from "@optique/core/primitives";
import { string } from "@optique/core/valueparser";
import { join } from "node:path";
import { checkListen, listenError } from "../shell/listen_check.ts";
import { openDataDir, warnFixedModes } from "../shell/startup.ts";
import {
  duration,
  formatDuration,
  fromZod,
  logLevel,
  port,
  shownAs,
} from "../cli/value_parsers.ts";
import type { SubcommandUsage } from "../cli/usage.ts";
import { z } from "zod";
import { logger, setupLogging, shutdownLogging } from "../log/setup.ts";
import { fingerprint, type Identity } from "../security/identity.ts";
import { formatLedger, totals } from "./ledger.ts";
import { DEFAULT_LIMITS, DEFAULT_TIMERS } from "./market.ts";
import { DEFAULT_LIVENESS } from "./liveness.ts";
import { SIGNATURES_PER_SECOND } from "./guard.ts";
import { approveAll, declineAll } from "./payment.ts";
import { ShopServer } from "./server.ts";
import { KvStore, serverKvPath, type ServerStore, StoreBusy } from "./store/mod.ts";
import { openStore } from "./store/open.ts";
import { isPostgresUrl } from "./store/store.ts";
import { copyStore, verifyCopy } from "./store/migrate.ts";
import { dirname } from "node:path";
import { describeError } from "../shell/commit_queue.ts";
// --web: the read-only dashboard (web16).
import { pageListen, webAddress } from "../web/address.ts";
import { Dashboard } from "./web/mod.ts";

const PerSecond = z.string().regex(
  /^[0-9]{1,7}$/,
  "expected a whole number of datagrams per second",
)
  .transform(Number).pipe(z.int().min(1, "must be at least 1"));

/** A cap on a count: a whole number, 0 for none. */
const Cap = z.string().regex(/^[0-9]{1,7}$/, "expected a whole number (0: no cap)").transform(
  Number,
);

const dataOption = option("--data", string({ metavar: "DIR" }), {
  description: message`Directory for server.kv and server.log.`,
}).withDefault("./shop-data", shownAs("./shop-data"));

const kvOption = optional(option("--kv", string({ metavar: "PATH|URL" }), {
  description:
    message`Keep the state in this KV file, or in a remote Deno KV (a KV Connect URL; the token from DENO_KV_ACCESS_TOKEN), instead of DIR/server.kv.`,
}));

/** A PostgreSQL URL; a Deno KV file is given with --kv. */
const PostgresUrl = z.string().regex(
  /^postgres(ql)?:\/\/\S+$/i,
  "expected a PostgreSQL URL like postgres://HOST:PORT/DB (a Deno KV file is given with --kv)",
);

const storeOption = optional(
  option(
    "--store",
    fromZod(PostgresUrl, { metavar: "URL", placeholder: "postgres://127.0.0.1:5432/shop" }),
    {
      description:
        message`Keep the state in PostgreSQL (postgres://HOST:PORT[,HOST2:PORT2…]/DB?sslmode=…) instead of Deno KV. The user is the URL's (else PGUSER); the password comes from PGPASSWORD or --store-password-file, never from the URL.`,
    },
  ),
);

const storePasswordFileOption = optional(
  option("--store-password-file", string({ metavar: "FILE" }), {
    description: message`Read the PostgreSQL password from this file (instead of PGPASSWORD).`,
  }),
);

/** `shop server ledger`: the ledger, read from the KV file. */
const ledgerCommand = command(
  "ledger",
  object({
    command: constant("ledger"),
    data: dataOption,
    kv: kvOption,
    store: storeOption,
    storePasswordFile: storePasswordFileOption,
    json: flag("--json", {
      description: message`Print the entries and totals as one JSON object.`,
    }).withDefault(false),
  }),
  {
    brief: message`Print the transaction ledger with totals.`,
    description:
      message`Print every transaction in the server's store (DIR/server.kv, --kv or --store) with its price, fee and outcome, and the totals of sales and fees. Needs no running server (but stop the server first for a consistent view).`,
  },
);

/** `shop server key`: the server's public key, for peers' `--server-key`. */
const keyCommand = command(
  "key",
  object({
    command: constant("key"),
    data: dataOption,
    kv: kvOption,
    store: storeOption,
    storePasswordFile: storePasswordFileOption,
    json: flag("--json", {
      description: message`Print the key and its fingerprint as one JSON object.`,
    }).withDefault(false),
  }),
  {
    brief: message`Print the server's public key, for peers' --server-key.`,
    description: message`Print the server's public key as ${
      commandLine("shop peer --server-key KEY")
    } takes it, and its fingerprint (what peers show as "server key ..."). If the server has no key yet, one is made and stored in DIR/server.kv, where the server will find it at its first start, so the key can be handed out before then. Needs no running server.`,
  },
);

/** `shop server migrate`: the market copied into another store. */
const migrateCommand = command(
  "migrate",
  object({
    command: constant("migrate"),
    data: dataOption,
    kv: kvOption,
    store: storeOption,
    storePasswordFile: storePasswordFileOption,
    to: option("--to", string({ metavar: "PATH|URL" }), {
      description:
        message`The store to copy into: a Deno KV file (DIR/server.kv) or a PostgreSQL URL (the password from PGPASSWORD or --to-password-file).`,
    }),
    toPasswordFile: optional(option("--to-password-file", string({ metavar: "FILE" }), {
      description: message`Read the target PostgreSQL's password from this file.`,
    })),
    overwrite: flag("--overwrite", {
      description:
        message`Copy into a store that holds records already, writing over them key by key (to finish a copy that stopped half way).`,
    }).withDefault(false),
  }),
  {
    brief: message`Copy the market into another store (Deno KV ↔ PostgreSQL).`,
    description:
      message`Copy every registration, search, offer, listing, ledger entry, replay mark and the server's key from the server's store (DIR/server.kv, --kv or --store) into --to, then check that both hold the same. Stop the server first: the copy claims both stores and refuses to run beside a server on either. Start the server on the new store afterwards.`,
  },
);

const serverOptions = object({
  kv: kvOption,
  store: storeOption,
  storePasswordFile: storePasswordFileOption,
  storeTimeout: option("--store-timeout", duration(), {
    description:
      message`How long the store may fail every commit (disk full, a database failing over) before the server stops with the reason; replies wait meanwhile.`,
  }).withDefault(30_000, shownAs(formatDuration(30_000))),
  standby: flag("--standby", {
    description:
      message`Wait for the server that holds the store to stop or die, then take over: restore its state and serve on the same port.`,
  }).withDefault(false),
  command: constant("server"),
  port: option("--port", port(), {
    description: message`UDP port to serve on (0 picks a free one).`,
  }).withDefault(5000, shownAs("5000")),
  host: option("--host", string({ metavar: "HOST" }), {
    description: message`Address to bind.`,
  }).withDefault("0.0.0.0", shownAs("0.0.0.0")),
  data: dataOption,
  logLevel: option("--log-level", logLevel(), {
    description:
      message`Lowest level of log lines shown on standard error; debug also writes the wire log to DIR/server.log.`,
  }).withDefault("info", shownAs("info")),
  wireLog: flag("--wire-log", {
    description:
      message`Write every datagram sent and received to DIR/server.log (by default it holds one line per event: registrations, searches, decisions, sales, refusals).`,
  }).withDefault(false),
  offerWindow: option("--offer-window", duration(), {
    description: message`How long offers are collected, counted from the first one.`,
  }).withDefault(DEFAULT_TIMERS.offerWindow, shownAs(formatDuration(DEFAULT_TIMERS.offerWindow))),
  searchTimeout: option("--search-timeout", duration(), {
    description: message`How long a search waits for any offer before NOT_AVAILABLE.`,
  }).withDefault(
    DEFAULT_TIMERS.searchTimeout,
    shownAs(formatDuration(DEFAULT_TIMERS.searchTimeout)),
  ),
  negotiationTimeout: option("--negotiation-timeout", duration(), {
    description: message`How long a seller has to answer NEGOTIATE before NOT_FOUND.`,
  }).withDefault(
    DEFAULT_TIMERS.negotiationTimeout,
    shownAs(formatDuration(DEFAULT_TIMERS.negotiationTimeout)),
  ),
  reserveTimeout: option("--reserve-timeout", duration(), {
    description: message`How long a buyer has to answer FOUND before the reservation is cancelled.`,
  }).withDefault(
    DEFAULT_TIMERS.reserveTimeout,
    shownAs(formatDuration(DEFAULT_TIMERS.reserveTimeout)),
  ),
  holdTimeout: option("--hold-timeout", duration(), {
    description:
      message`How long a listing's seller has to answer RESERVE (after acknowledging it) before the next listing is tried; raise it on a lossy network.`,
  }).withDefault(
    DEFAULT_TIMERS.holdTimeout,
    shownAs(formatDuration(DEFAULT_TIMERS.holdTimeout)),
  ),
  offlineAfter: option("--offline-after", duration(), {
    description:
      message`Silence after which one of our peers (which says ALIVE every 20 s) is offline: its listings hidden, no search waits for it (0: never).`,
  }).withDefault(
    DEFAULT_LIVENESS.offlineAfter,
    shownAs(formatDuration(DEFAULT_LIVENESS.offlineAfter)),
  ),
  forgetOfflineAfter: option("--forget-offline-after", duration(), {
    description: message`How long a peer may stay offline before it is de-registered (0: never).`,
  }).withDefault(
    DEFAULT_LIVENESS.forgetAfter,
    shownAs(formatDuration(DEFAULT_LIVENESS.forgetAfter)),
  ),
  transactionTimeout: option("--transaction-timeout", duration(), {
    description: message`How long a peer has to answer on TCP during a purchase.`,
  }).withDefault(30_000, shownAs(formatDuration(30_000))),
  declineCards: flag("--decline-cards", {
    description: message`Decline every charge (to test failed purchases).`,
  }).withDefault(false),
  allowPlaintext: flag("--allow-plaintext", {
    description:
      message`Admit classic peers (no keys, no TLS): their names are bound to their address and their card data crosses the network in clear.`,
  }).withDefault(false),
  rateLimit: option("--rate-limit", fromZod(PerSecond, { metavar: "N", placeholder: 1000 }), {
    description:
      message`Datagrams per second one host may send before it has a session, and one session after (bursts of twice that).`,
  }).withDefault(1000, shownAs("1000")),
  signatureRate: option(
    "--signature-rate",
    fromZod(PerSecond, { metavar: "N", placeholder: SIGNATURES_PER_SECOND }),
    {
      description:
        message`Signed registrations one host may have checked per second (bursts of twice that).`,
    },
  ).withDefault(SIGNATURES_PER_SECOND, shownAs(String(SIGNATURES_PER_SECOND))),
  namesPerHost: option("--names-per-host", fromZod(Cap, { metavar: "N", placeholder: 64 }), {
    description: message`Most names one IP address may hold (0: no cap).`,
  }).withDefault(DEFAULT_LIMITS.namesPerHost, shownAs(String(DEFAULT_LIMITS.namesPerHost))),
  classicNamesPerHost: option(
    "--classic-names-per-host",
    fromZod(Cap, { metavar: "N", placeholder: 8 }),
    {
      description:
        message`Most classic names one IP address may hold, with --allow-plaintext (0: no cap). Classic peers prove no address, so this bounds what forged registrations can make the server send to one host.`,
    },
  ).withDefault(
    DEFAULT_LIMITS.classicNamesPerHost,
    shownAs(String(DEFAULT_LIMITS.classicNamesPerHost)),
  ),
  namesPerKey: option("--names-per-key", fromZod(Cap, { metavar: "N", placeholder: 4 }), {
    description: message`Most names one peer key may hold (0: no cap).`,
  }).withDefault(DEFAULT_LIMITS.namesPerKey, shownAs(String(DEFAULT_LIMITS.namesPerKey))),
  web: optional(option("--web", webAddress(), {
    description:
      message`Also serve a read-only dashboard at [HOST:]PORT (host 127.0.0.1 by default; port 0 picks one) and print its URL with a token.`,
  })),
});

/** The usage of `shop server` and of its two subcommands, shown after a usage error. */
export const serverUsages: readonly SubcommandUsage[] = [
  { path: ["server"], usage: [{ type: "command", name: "server" }, ...serverOptions.usage] },
  {
    path: ["server", "ledger"],
    usage: [{ type: "command", name: "server" }, ...ledgerCommand.usage],
  },
  { path: ["server", "key"], usage: [{ type: "command", name: "server" }, ...keyCommand.usage] },
  {
    path: ["server", "migrate"],
    usage: [{ type: "command", name: "server" }, ...migrateCommand.usage],
  },
];

/** The `shop server` command line. */
export const serverCommand = command(
  "server",
  or(ledgerCommand, keyCommand, migrateCommand, serverOptions),
  {
    brief: message`Run the marketplace server.`,
    description:
      message`Run the marketplace server: peers register with it over UDP, it forwards searches, picks offers and settles purchases. State survives restarts in DIR/server.kv (or PostgreSQL with --store); its events are logged to DIR/server.log (every datagram too with --wire-log).`,
  },
);

/** Parsed `shop server` options. */
export type ServerCommand = InferValue<typeof serverCommand>;

/**
 * Runs the server until SIGINT or SIGTERM.
 *
 * @returns The exit code.
 */
export async function runServer(
  options: Extract<ServerCommand, { command: "server" }>,
): Promise<number> {
  const both = twoStores(options);
  if (both !== undefined) return both;
  // The ports are looked at before the data directory is made or touched
  // (not by a standby: the server it replaces holds them).
  const busy = options.standby ? undefined : checkListen([
    {
      transport: "udp",
      hostname: options.host,
      port: options.port,
      portOption: "--port",
      hostOption: "--host",
    },
    ...(options.web ? [pageListen(options.web, "the dashboard")] : []),
  ]);
  if (busy !== undefined) {
    console.error(`Error: ${busy}`);
    return 1;
  }
  const opened = await openDataDir(options.data, {
    name: "server",
    what: "shop server",
    ...(options.standby
      ? {
        onWait: (pid?: number) =>
          console.log(
            `Standby: waiting for the shop server on ${options.data}${
              pid === undefined ? "" : ` (pid ${pid})`
            } to stop`,
          ),
      }
      : {}),
  });
  if (typeof opened === "number") return opened;
  using _held = opened;
  await setupLogging({
    file: join(options.data, "server.log"),
    consoleLevel: options.logLevel,
    // An event log unless every datagram is asked for.
    fileLevel: options.wireLog ? "debug" : "info",
  });
  const log = logger("server");
  warnFixedModes(log, opened.prepared);
  let server: ShopServer;
  try {
    server = await ShopServer.start({
      hostname: options.host,
      port: options.port,
      dataDir: options.data,
      ...(options.kv ? { kv: options.kv } : {}),
      ...(options.store ? { store: options.store } : {}),
      ...(options.storePasswordFile ? { storePasswordFile: options.storePasswordFile } : {}),
      storeTimeout: options.storeTimeout,
      standby: options.standby,
      holdsLock: true,
      onStandby: (owner) =>
        console.log(`Standby: waiting for ${owner.holder} to stop (it holds the store)`),
      timers: {
        offerWindow: options.offerWindow,
        searchTimeout: options.searchTimeout,
        negotiationTimeout: options.negotiationTimeout,
        reserveTimeout: options.reserveTimeout,
        holdTimeout: options.holdTimeout,
      },
      liveness: { offlineAfter: options.offlineAfter, forgetAfter: options.forgetOfflineAfter },
      transactionTimeout: options.transactionTimeout,
      processor: options.declineCards ? declineAll : approveAll,
      allowPlaintext: options.allowPlaintext,
      ratePerSecond: options.rateLimit,
      signaturesPerSecond: options.signatureRate,
      limits: {
        namesPerHost: options.namesPerHost,
        classicNamesPerHost: options.classicNamesPerHost,
        namesPerKey: options.namesPerKey,
      },
    });
  } catch (error) {
    log.error("Server failed to start: {error}", { error: describeError(error) });
    await shutdownLogging();
    // A start that failed leaves no data directory it made.
    await opened.discard();
    console.error(
      `Error: ${
        error instanceof Deno.errors.AddrInUse
          ? `Cannot listen on UDP ${options.host}:${options.port}: the port is in use (give another with --port)`
          : `Cannot start the server: ${describeError(error)}`
      }`,
    );
    return 1;
  }
  let dashboard: Dashboard | undefined;
  try {
    // Bound before the listening line: a port taken meanwhile stops the start.
    dashboard = options.web ? Dashboard.start(server, options.web) : undefined;
  } catch (error) {
    log.error("Dashboard failed to start: {error}", { error: describeError(error) });
    await server[Symbol.asyncDispose]();
    await shutdownLogging();
    await opened.discard();
    console.error(`Error: ${listenError(error, pageListen(options.web!, "the dashboard"))}`);
    return 1;
  }
  try {
    await using _server = server;
    await using _dashboard = dashboard;
    const { hostname, port } = server.address;
    // Scripts and tests wait for this line to know the port.
    console.log(
      `shop server listening on ${hostname}:${port} (${
        options.store ? `state in ${withoutPassword(options.store)}, logs` : "data"
      } in ${options.data})`,
    );
    if (dashboard) console.log(`Dashboard: ${dashboard.url}`);
    const stop = new AbortController();
    const failure = await Promise.race([
      untilSignal(stop.signal).then(() => undefined),
      server.failed,
    ]);
    stop.abort();
    if (failure) {
      console.error(`Error: The server stopped: ${describeError(failure)}`);
      return 1;
    }
    log.info("Shutting down");
    return 0;
  } catch (error) {
    log.error("Server failed: {error}", { error: String(error) });
    return 1;
  } finally {
    await shutdownLogging();
  }
}

/**
 * Prints the ledger of a data directory.
 *
 * @returns The exit code: 1 when there is no server data there.
 */
export async function runLedger(
  options: Extract<ServerCommand, { command: "ledger" }>,
): Promise<number> {
  const both = twoStores(options);
  if (both !== undefined) return both;
  let store: ServerStore;
  try {
    store = options.store
      ? await openStore({ dataDir: options.data, ...storeLocation(options) })
      : await KvStore.openExisting(options.data, options.kv);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(
        `Error: No server data in "${options.data}": pass the server's --data directory`,
      );
      return 1;
    }
    if (
      error instanceof Deno.errors.NotADirectory || error instanceof Deno.errors.PermissionDenied
    ) {
      console.error(
        `Error: Cannot read server data in ${options.data}: ${
          error instanceof Deno.errors.NotADirectory
            ? "a part of the path is a file"
            : "permission denied"
        } (give the server's --data directory)`,
      );
      return 2;
    }
    console.error(
      `Error: Cannot read the ledger in ${
        options.store ? withoutPassword(options.store) : options.data
      }: ${describeError(error)}`,
    );
    return 1;
  }
  await using _store = store;
  const entries = (await store.ledger()).sort((a, b) => a.at - b.at);
  console.log(
    options.json ? JSON.stringify({ entries, totals: totals(entries) }) : formatLedger(entries),
  );
  return 0;
}

/**
 * Prints the server's public key and its fingerprint, making and storing
 * the key if there is none yet.
 *
 * @returns The exit code: 1 when the store cannot be opened or written.
 */
export async function runKey(
  options: Extract<ServerCommand, { command: "key" }>,
): Promise<number> {
  const both = twoStores(options);
  if (both !== undefined) return both;
  let where = options.store
    ? withoutPassword(options.store)
    : options.kv ?? serverKvPath(options.data);
  let identity: Identity;
  let created: boolean;
  try {
    await using store = await openStore({ dataDir: options.data, ...storeLocation(options) });
    where = store.where;
    ({ identity, created } = await store.identity());
  } catch (error) {
    console.error(`Error: Cannot read the server key in ${where}: ${(error as Error).message}`);
    return 1;
  }
  const key = identity.publicText;
  const keyFingerprint = await fingerprint(key);
  if (created) {
    // On standard error, so that scripts reading the key are not disturbed.
    console.error(
      `There was no server key in ${where}: made a new one, which the server will use`,
    );
  }
  console.log(
    options.json
      ? JSON.stringify({ key, fingerprint: keyFingerprint })
      : `server key ${key}\nfingerprint ${keyFingerprint}`,
  );
  return 0;
}

/**
 * Copies the market into another store and checks the copy.
 *
 * @returns The exit code: 1 when a store cannot be opened, the copy is
 *   refused, or the check finds a difference.
 */
export async function runMigrate(
  options: Extract<ServerCommand, { command: "migrate" }>,
): Promise<number> {
  const both = twoStores(options);
  if (both !== undefined) return both;
  const from = options.store
    ? withoutPassword(options.store)
    : options.kv ?? serverKvPath(options.data);
  let source: ServerStore | undefined;
  let target: ServerStore | undefined;
  try {
    // Loaded only when asked for: a server on Deno KV never loads the PostgreSQL client.
    const { PostgresStore } = await import("./store/postgres_store.ts");
    source = options.store && isPostgresUrl(options.store)
      ? await PostgresStore.openExisting(options.store, passwordFileOf(options.storePasswordFile))
      : await KvStore.openExisting(options.data, options.store ?? options.kv);
    target = isPostgresUrl(options.to)
      ? await PostgresStore.open(options.to, passwordFileOf(options.toPasswordFile))
      : await KvStore.open(dirname(options.to), options.to);
    const counts = await copyStore(source, target, { overwrite: options.overwrite });
    const check = await verifyCopy(source, target);
    if (!check.same) {
      console.error(
        `Error: The copy in ${target.where} differs from ${source.where}:\n${
          check.differences.join("\n")
        }`,
      );
      return 1;
    }
    console.log(
      `Copied ${counts.peers} peers, ${counts.requests} searches, ${counts.offers} offers, ${counts.listings} listings, ${counts.ledger} ledger entries, ${counts.marks} replay marks${
        counts.identity ? " and the server key" : ""
      } from ${source.where} to ${target.where}; both hold the same`,
    );
    return 0;
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? `no server data there (pass the server's --data, --kv or --store)`
      : error instanceof StoreBusy
      ? `a server (${error.owner.holder}) is using ${
        source && target ? "a store" : "the store"
      }: stop it first, then copy`
      : describeError(error);
    console.error(`Error: Cannot copy the market from ${source?.where ?? from}: ${reason}`);
    return 1;
  } finally {
    await target?.[Symbol.asyncDispose]();
    await source?.[Symbol.asyncDispose]();
  }
}

/**
 * A command given both `--kv` and `--store` names two stores: refused as a
 * usage error (exit 2), rather than one of them silently ignored.
 */
function twoStores(options: { kv?: string | undefined; store?: string | undefined }) {
  if (options.kv === undefined || options.store === undefined) return undefined;
  console.error(
    "Error: `--kv` and `--store` name two stores: give one (--kv for Deno KV, --store for PostgreSQL)",
  );
  return 2;
}

/** A URL as it may be shown: a password in it (which the store refuses anyway) as ***. */
function withoutPassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, "$1***@").replace(
    /([?&]password=)[^&]*/i,
    "$1***",
  );
}

function passwordFileOf(file: string | undefined): { passwordFile?: string } {
  return file ? { passwordFile: file } : {};
}

/** The store options of a command, as {@linkcode openStore} takes them. */
function storeLocation(
  options: {
    kv?: string | undefined;
    store?: string | undefined;
    storePasswordFile?: string | undefined;
  },
) {
  return {
    ...(options.kv ? { kv: options.kv } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.storePasswordFile ? { storePasswordFile: options.storePasswordFile } : {}),
  };
}

/** Resolves at SIGINT or SIGTERM; the listeners go when `signal` aborts. */
function untilSignal(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
      resolve();
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    signal.addEventListener("abort", stop, { once: true });
  });
}
