import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./_process.ts";
import { shop } from "./_shop.ts";

/** What every refused start must not print. */
function assertNoTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(stderr, /allow-all|run again with|Uncaught/i);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("a --data that cannot be a data directory is refused with exit 2, nothing created", async (t) => {
  await using dir = await tempDir();
  const file = join(dir.path, "a-file");
  await Deno.writeTextFile(file, "x");
  const cases: [string, string, RegExp][] = [
    ["a file", file, /it is a file, not a directory/],
    ["a path under a file", join(file, "data"), /a part of the path is a file/],
    [
      "a parent that cannot be created",
      "/proc/shop-test/data",
      /its parent directory cannot be created|permission denied/,
    ],
  ];
  if (Deno.uid() === 0) {
    // Root writes anywhere but where the kernel forbids it.
    cases.push(["a place no one may write", "/sys/kernel/shop-test", /permission denied/]);
  } else {
    const readOnly = join(dir.path, "read-only");
    await Deno.mkdir(readOnly, { mode: 0o555 });
    cases.push(["a read-only directory", join(readOnly, "data"), /permission denied/]);
  }
  for (const [what, path, why] of cases) {
    await t.step(what, async () => {
      for (const role of [["server", "--port", "0"], ["peer", "--name", "a"]]) {
        const result = await shop([...role, "--data", path]);
        assert.equal(result.code, 2, result.stderr);
        assert.ok(
          result.stderr.startsWith(`Error: Cannot use data directory "${path}": `),
          result.stderr,
        );
        assert.match(result.stderr, why);
        assert.match(result.stderr, /\(give another with --data\)\n$/);
        assertNoTrace(result.stderr);
      }
      assert.equal(await exists(join(file, "data")), false);
    });
  }
});

Deno.test("a --data outside the permissions is refused with exit 2, nothing created", async () => {
  await using dir = await tempDir();
  const allowed = join(dir.path, "allowed");
  const outside = join(dir.path, "outside", "data");
  const result = await shop(["peer", "--name", "a", "--data", outside], {
    permissions: [
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      `--allow-read=${allowed}`,
      `--allow-write=${allowed}`,
    ],
  });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /outside the paths this program may read and write/);
  assertNoTrace(result.stderr);
  assert.equal(await exists(join(dir.path, "outside")), false);
});

Deno.test("a port in use is named, exit 1, and the data directory is not created", async (t) => {
  await using dir = await tempDir();
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const udpPort = (udp.addr as Deno.NetAddr).port;
    const tcpPort = tcp.addr.port;
    const cases: [string, string[], string][] = [
      [
        "shop server --port",
        ["server", "--host", "127.0.0.1", "--port", String(udpPort)],
        `Cannot listen on UDP 127.0.0.1:${udpPort}: the port is in use (give another with --port)`,
      ],
      [
        "shop peer --udp-port",
        ["peer", "--name", "a", "--host", "127.0.0.1", "--udp-port", String(udpPort)],
        `Cannot listen on UDP 127.0.0.1:${udpPort}: the port is in use (give another with --udp-port)`,
      ],
      [
        "shop peer --tcp-port",
        ["peer", "--name", "a", "--host", "127.0.0.1", "--tcp-port", String(tcpPort)],
        `Cannot listen on TCP 127.0.0.1:${tcpPort}: the port is in use (give another with --tcp-port)`,
      ],
    ];
    for (const [what, args, expected] of cases) {
      await t.step(what, async () => {
        const data = join(dir.path, "new", "data");
        const result = await shop([...args, "--data", data]);
        assert.equal(result.code, 1, result.stderr);
        assert.equal(result.stderr, `Error: ${expected}\n`);
        assert.equal(await exists(join(dir.path, "new")), false, "no data directory made");
      });
    }
    await t.step("shop server --web: no listening line, the data directory as it was", async () => {
      // A directory that exists already keeps nothing of the refused start.
      const data = join(dir.path, "existing");
      await Deno.mkdir(data);
      const result = await shop([
        ...["server", "--host", "127.0.0.1", "--port", "0", "--web", `127.0.0.1:${tcpPort}`],
        ...["--data", data],
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(
        result.stderr,
        `Error: Cannot listen on 127.0.0.1:${tcpPort} for the dashboard: the port is in use; ` +
          "choose another with --web 127.0.0.1:PORT\n",
      );
      assert.equal(result.stdout, "", "no listening line");
      assert.deepEqual(await Array.fromAsync(Deno.readDir(data)), [], "nothing left in it");
    });
    await t.step("shop peer --web", async () => {
      const data = join(dir.path, "new", "data");
      const result = await shop([
        ...["peer", "--name", "a", "--host", "127.0.0.1", "--udp-port", "0", "--tcp-port", "0"],
        ...["--web", String(tcpPort), "--data", data],
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(
        result.stderr,
        `Error: Cannot listen on 127.0.0.1:${tcpPort} for the page: the port is in use; ` +
          "choose another with --web 127.0.0.1:PORT\n",
      );
      assert.equal(result.stdout, "");
      assert.equal(await exists(join(dir.path, "new")), false, "no data directory made");
    });
  } finally {
    udp.close();
    tcp.close();
  }
});
