/**
 * The bench's PostgreSQL, as a child process: `startPostgres()` from
 * `tests/_postgres.ts` (one PostgreSQL 15 on 127.0.0.1, a free port, its
 * own temporary data directory), run here rather than in the bench
 * because stopping it reads `/proc`, which Deno allows only with
 * `--allow-all`, and the bench runs with narrower permissions
 * (`_store.ts` spawns this with `--allow-all`).
 *
 * Prints one JSON line on standard output: `{"ready": {port, database,
 * user, password, superuserPassword, dir}}`, or `{"error": "…"}` and exits
 * 1. Then holds the instance until its standard input ends (the bench
 * closes it, or exits) or SIGTERM, stops it and removes its directory.
 *
 * @module
 */
import { startPostgres } from "../tests/_postgres.ts";

/** What the bench reads from the ready line. */
export interface PostgresHostInfo {
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** The user's password: for the shop server, in PGPASSWORD. */
  readonly password: string;
  /** The `postgres` superuser's: for the bench, which creates a database per server. */
  readonly superuserPassword: string;
  readonly dir: string;
}

async function main(): Promise<number> {
  let instance;
  try {
    instance = await startPostgres({
      // The bench's servers, their baselines and its own size queries: far below this.
      parameters: { max_connections: "50" },
    });
  } catch (error) {
    console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
    return 1;
  }
  await using db = instance;
  const info: PostgresHostInfo = {
    port: db.port,
    database: db.database,
    user: db.user,
    password: db.password,
    superuserPassword: db.superuserPassword,
    dir: db.dir,
  };
  console.log(JSON.stringify({ ready: info }));
  const ended = Promise.withResolvers<void>();
  const onSignal = () => ended.resolve();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  (async () => {
    // Nothing is sent on standard input: its end is the bench letting go.
    for await (const _ of Deno.stdin.readable) {
      // Ignored.
    }
    ended.resolve();
  })().catch(() => ended.resolve());
  await ended.promise;
  Deno.removeSignalListener("SIGTERM", onSignal);
  Deno.removeSignalListener("SIGINT", onSignal);
  return 0;
}

if (import.meta.main) {
  const code = await main();
  Deno.exit(code);
}
