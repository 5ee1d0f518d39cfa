/**
 * `deno task demo:postgres`: a throwaway PostgreSQL 15 on 127.0.0.1 for
 * trying `shop server --store` on one machine (Debian's `postgresql`
 * package; as root, PostgreSQL runs as the `postgres` user). It writes the
 * password to a private file, prints the command that starts a server on
 * it, and holds the database until Ctrl-C, when it stops it and removes
 * its directory. For a real deployment see docs/operations.md.
 *
 * @module
 */
import { postgresMissing, startPostgres } from "../tests/_postgres.ts";

async function main(): Promise<number> {
  const data = Deno.args[0] ?? "./shop-data";
  const missing = postgresMissing();
  if (missing) {
    console.error(`Error: ${missing}`);
    return 1;
  }
  await using db = await startPostgres();
  await Deno.mkdir(data, { recursive: true, mode: 0o700 });
  const passwordFile = `${data.replace(/\/$/, "")}/postgres-password`;
  await Deno.writeTextFile(passwordFile, db.password, { mode: 0o600 });
  console.log(
    `PostgreSQL ready on 127.0.0.1:${db.port} (database ${db.database}, user ${db.user}); ` +
      `the password is in ${passwordFile}`,
  );
  console.log("Start a server on it in another terminal:");
  console.log(
    `  deno task start --store ${db.url} --store-password-file ${passwordFile}`,
  );
  console.log("Ctrl-C stops PostgreSQL and removes its data.");
  const stop = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGINT", () => stop.resolve());
  Deno.addSignalListener("SIGTERM", () => stop.resolve());
  await stop.promise;
  await Deno.remove(passwordFile).catch(() => {});
  return 0;
}

if (import.meta.main) Deno.exit(await main());
