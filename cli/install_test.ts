import assert from "node:assert/strict";
import { installDir, installedLines } from "./install.ts";

Deno.test("installDir is where deno install --global puts commands", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(
    installDir(env({ DENO_INSTALL_ROOT: "/opt/deno", HOME: "/home/a" })),
    "/opt/deno/bin",
  );
  assert.equal(installDir(env({ HOME: "/home/a" })), "/home/a/.deno/bin");
});

Deno.test("installedLines gives the PATH hint only when the directory is not on PATH", () => {
  const installed = "Installed shop as /home/a/.deno/bin/shop (it runs /src/shop/main.ts)";
  assert.deepEqual(
    installedLines("/home/a/.deno/bin", "/src/shop/main.ts", "/usr/bin:/home/a/.deno/bin"),
    [installed],
  );
  assert.deepEqual(installedLines("/home/a/.deno/bin", "/src/shop/main.ts", "/usr/bin"), [
    installed,
    '/home/a/.deno/bin is not on PATH: add it with export PATH="/home/a/.deno/bin:$PATH"',
  ]);
  assert.equal(installedLines("/home/a/.deno/bin", "/src/shop/main.ts", undefined).length, 2);
});
