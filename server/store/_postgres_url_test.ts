/** Store URLs: no password, TLS settings taken out for postgres.js, `where` without secrets. */
import assert from "node:assert/strict";
import { parseStoreUrl, readPasswordFile } from "./_postgres_url.ts";

const noEnv = { get: () => undefined };

Deno.test("a password in a store URL is refused without repeating it", () => {
  for (
    const url of [
      "postgres://shop:s3cret@db/shop",
      "postgresql://shop:s3cret@db1:5432,db2:5432/shop",
      "postgres://shop@db/shop?sslmode=require&password=s3cret",
    ]
  ) {
    assert.throws(() => parseStoreUrl(url, noEnv), (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /set PGPASSWORD or use a password file/);
      assert.ok(!error.message.includes("s3cret"), error.message);
      return true;
    });
  }
});

Deno.test("where names the hosts, database and TLS mode, not the user", () => {
  const parsed = parseStoreUrl(
    "postgres://shop@db1:5432,db2:5433/market?target_session_attrs=read-write&sslmode=require",
    noEnv,
  );
  assert.equal(
    parsed.where,
    "postgres://db1:5432,db2:5433/market?target_session_attrs=read-write&sslmode=require",
  );
  assert.equal(
    parsed.url,
    "postgres://shop@db1:5432,db2:5433/market?target_session_attrs=read-write",
  );
  assert.deepEqual(parsed.ssl, { rejectUnauthorized: false });
  assert.equal(parseStoreUrl("postgres://db/shop", noEnv).where, "postgres://db/shop");
});

Deno.test("sslmode maps to postgres.js's ssl option as libpq means it", async (t) => {
  const dir = await Deno.makeTempDir();
  const ca = `${dir}/ca.pem`;
  await Deno.writeTextFile(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  const ssl = (query: string, env: Record<string, string> = {}) =>
    parseStoreUrl(`postgres://db/shop${query}`, { get: (name) => env[name] }).ssl;
  await t.step("disable, and prefer by default", () => {
    assert.equal(ssl("?sslmode=disable"), false);
    assert.equal(ssl(""), "prefer");
    assert.equal(ssl("", { PGSSLMODE: "disable" }), false);
  });
  await t.step("require: encrypted, the certificate unchecked unless a CA is named", () => {
    assert.deepEqual(ssl("?sslmode=require"), { rejectUnauthorized: false });
    const withCa = ssl(`?sslmode=require&sslrootcert=${encodeURIComponent(ca)}`) as Record<
      string,
      unknown
    >;
    assert.equal(withCa.rejectUnauthorized, true);
    assert.match(String(withCa.ca), /BEGIN CERTIFICATE/);
  });
  await t.step("verify-ca checks the chain only; verify-full the name too", () => {
    const verifyCa = ssl("?sslmode=verify-ca", { PGSSLROOTCERT: ca }) as Record<string, unknown>;
    assert.equal(typeof verifyCa.checkServerIdentity, "function");
    assert.match(String(verifyCa.ca), /BEGIN CERTIFICATE/);
    const full = ssl("?sslmode=verify-full&sslrootcert=system") as Record<string, unknown>;
    assert.deepEqual(full, { rejectUnauthorized: true });
  });
  await t.step("an unknown mode or an unreadable CA file", () => {
    assert.throws(() => ssl("?sslmode=sometimes"), /Cannot use sslmode "sometimes"/);
    assert.throws(
      () => ssl("?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
      /Cannot read the sslrootcert file "\/nonexistent\/ca.pem"/,
    );
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a URL that is not postgres:// is refused", () => {
  assert.throws(
    () => parseStoreUrl("mysql://db/shop", noEnv),
    /Cannot read store URL "mysql:\/\/db\/shop"/,
  );
});

Deno.test("a password file gives its first line", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/pw`, "line one\nline two\n");
  assert.equal(await readPasswordFile(`${dir}/pw`), "line one");
  await Deno.writeTextFile(`${dir}/empty`, "\n");
  await assert.rejects(readPasswordFile(`${dir}/empty`), /its first line is empty/);
  await assert.rejects(readPasswordFile(`${dir}/missing`), /Cannot read the store password file/);
  await Deno.remove(dir, { recursive: true });
});
