/**
 * `shop peer` on a real terminal (a tmux pane), read back as drawn: what is
 * echoed and what is hidden, the keys Ctrl-C and Ctrl-D, the history on Up,
 * a line wider than the screen, and a terminal that stays live while the
 * registration waits for a server that does not answer. One peer process
 * per test, walked through in steps.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { hasTmux, Pty } from "./_pty.ts";

const CARD = "4111111111111111";
const EXPIRY = "12/39";
const ADDRESS = "42 Main St";

/** A UDP port on 127.0.0.1 where nothing answers. */
function silentPort(): number {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

/** The last line on the screen: the prompt and the line being typed. */
function lastLine(screen: string): string {
  return screen.split("\n").at(-1)!;
}

/** How many times the prompt is drawn on the screen. */
function prompts(screen: string, name: string): number {
  return screen.split(`${name}> `).length - 1;
}

Deno.test({
  name:
    "a terminal peer without a server: Ctrl-C, hidden card input, history, long lines, a waiting registration",
  ignore: !hasTmux,
  async fn(t) {
    await using dir = await tempDir();
    const port = silentPort();
    await using pty = await Pty.start(
      ["peer", "--name", "tty", "--data", dir.path, "--server", `127.0.0.1:${port}`],
      { columns: 60 },
    );
    await pty.waitFor(/tty ready on UDP/);
    await pty.waitFor(/tty> $/);

    await t.step("Ctrl-C on an empty line says how to leave, and the peer stays", async () => {
      await pty.press("C-c");
      await pty.waitFor("To leave, type quit or press Ctrl-D");
      await pty.type("status");
      await pty.press("Enter");
      await pty.waitFor("tty: not registered with");
    });

    await t.step(
      "the line is edited with the arrows, Home, End, backspace and Delete",
      async () => {
        const before = (await pty.screen()).split("tty: not registered with").length;
        await pty.type("stat");
        await pty.press("Left", "Left");
        await pty.type("xx");
        await pty.press("BSpace", "BSpace", "End");
        await pty.type("us");
        await pty.press("Enter");
        await pty.waitFor(new RegExp(`(tty: not registered with[\\s\\S]*){${before}}`));
        // Up gives status back; Home and six Deletes leave nothing, then key.
        await pty.press("Up", "Home", "DC", "DC", "DC", "DC", "DC", "DC");
        await pty.type("key");
        await pty.press("Enter");
        const screen = await pty.waitFor("This peer's public key");
        assert.doesNotMatch(screen, /Unknown command/);
      },
    );

    await t.step(
      "a line wider than the terminal scrolls sideways: one prompt, not one per row",
      async () => {
        const before = await pty.screen();
        const long = `buy ${"x".repeat(200)}END`;
        await pty.type(long);
        const screen = await pty.waitFor(/xEND$/);
        assert.equal(prompts(screen, "tty"), prompts(before, "tty"), screen);
        // The line itself stays whole: Enter gives it to the agent as typed.
        await pty.press("Enter");
        await pty.waitFor(/Cannot run buy: item "x{200}END" is too long/);
      },
    );

    await t.step("payment asks for the card and expiry without echo, and keeps them", async () => {
      await pty.type("payment");
      await pty.press("Enter");
      await pty.waitFor("Card number (kept for this session, never stored):");
      await pty.type(CARD);
      await pty.press("Enter");
      await pty.waitFor("Expiry (MM/YY):");
      await pty.type(EXPIRY);
      await pty.press("Enter");
      await pty.waitFor("Address:");
      await pty.type(ADDRESS);
      await pty.press("Enter");
      const screen = await pty.waitFor("Payment details kept for this session: card ");
      assert.ok(!screen.includes(CARD) && !screen.includes(EXPIRY), screen);
    });

    await t.step("status says which payment details are kept", async () => {
      await pty.type("status");
      await pty.press("Enter");
      await pty.waitFor("payment details: card ending 1111, kept for this session");
    });

    await t.step("Up recalls commands only, never an answer typed at a prompt", async () => {
      await pty.press("Up");
      assert.equal(lastLine(await pty.waitFor(/tty> status$/)), "tty> status");
      // Before status came the address, the expiry, the card: none of them.
      await pty.press("Up");
      const screen = await pty.waitFor(/tty> (?!status$)\S.*$/);
      assert.equal(lastLine(screen), "tty> payment");
      assert.ok(!screen.includes(CARD) && !screen.includes(EXPIRY), screen);
      await pty.press("C-u");
      await pty.waitFor(/tty> $/);
    });

    await t.step("Ctrl-C at the card prompt of payment changes nothing", async () => {
      await pty.type("payment");
      await pty.press("Enter");
      await pty.waitFor(
        /Card number \(kept for this session, never stored\):\n.*tty> \(hidden\) $/,
      );
      await pty.press("C-c");
      await pty.waitFor("Nothing changed: the payment details kept before (card ending 1111) stay");
      await pty.type("status");
      await pty.press("Enter");
      await pty.waitFor(/(payment details: card ending 1111, kept[\s\S]*){2}/);
    });

    await t.step(
      "while the registration waits, typing, help, status, cancel and quit work",
      async () => {
        await pty.type("register");
        await pty.press("Enter");
        await pty.waitFor(`Registering with 127.0.0.1:${port}`);
        // buy waits for the registration; what comes after it need not.
        await pty.type("buy Lamp 5");
        await pty.press("Enter");
        await pty.waitFor(/tty> buy Lamp 5\ntty> $/);
        await pty.type("hel");
        await pty.waitFor(/tty> hel$/);
        await pty.type("p");
        await pty.press("Enter");
        await pty.waitFor("Commands:");
        const before = (await pty.screen()).split("tty: not registered with").length;
        await pty.type("status");
        await pty.press("Enter");
        await pty.waitFor(/1 message\(s\) to the server waiting for an answer/);
        assert.equal((await pty.screen()).split("tty: not registered with").length, before + 1);
        await pty.waitFor(`Waiting for the server at 127.0.0.1:${port} (try 2 of 12); type cancel`);
        await pty.type("cancel");
        await pty.press("Enter");
        await pty.waitFor(`Stopped waiting for the server at 127.0.0.1:${port}`);
        await pty.waitFor("Error: Cannot run buy: the registration was cancelled");
        await pty.type("quit");
        await pty.press("Enter");
        assert.equal(await pty.exited(), 0);
      },
    );
  },
});

Deno.test({
  name:
    "a terminal buyer: Ctrl-C declines a question, a withdrawn card prompt hides what follows, Ctrl-D leaves",
  ignore: !hasTmux,
  async fn(t) {
    await using dir = await tempDir();
    const server = await ServerProcess.start(join(dir.path, "server"), "--offer-window", "300ms");
    const payment = join(dir.path, "sam-payment.json");
    await Deno.writeTextFile(
      payment,
      JSON.stringify({ card: "5555555555554444", expiry: "11/38", address: "1 Seller Road" }),
    );
    await using seller = await PeerProcess.start(
      "sam",
      server.port,
      join(dir.path, "sam"),
      "--payment",
      payment,
    );
    await seller.command("register", "REGISTERED");
    await seller.command("sell Lamp 25 brass lamp", "sell");
    await using pty = await Pty.start([
      "peer",
      "--name",
      "bea",
      "--data",
      join(dir.path, "bea"),
      "--server",
      `127.0.0.1:${server.port}`,
      "--host",
      "127.0.0.1",
      // With a page the end of a pipe no longer stops the peer; Ctrl-D on
      // its terminal still does (last step).
      "--web",
      "127.0.0.1:0",
    ]);
    try {
      await pty.waitFor(/Page: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
      await pty.waitFor(/bea> $/);
      await pty.type("register");
      await pty.press("Enter");
      await pty.waitFor("Registered as bea");

      await t.step("Ctrl-C at Buy? declines it, as n would", async () => {
        await pty.type("buy Lamp 30");
        await pty.press("Enter");
        await pty.waitFor("Buy Lamp for 25.00 from sam? [y/N]");
        await pty.press("C-c");
        await pty.waitFor("Declined Lamp for 25.00");
      });

      await t.step(
        "a card prompt withdrawn by a server that died hides and drops what follows",
        async () => {
          await pty.type("buy Lamp 30");
          await pty.press("Enter");
          await pty.waitFor(/Buy Lamp for 25\.00 from sam\? \[y\/N\]\n.*bea> $/);
          await pty.type("y");
          await pty.press("Enter");
          await pty.waitFor("Card number for buyer of Lamp (25.00):");
          await server.kill("SIGKILL");
          await pty.waitFor(/until you press Enter on an empty line\n.*bea> \(hidden\) $/);
          for (const line of [CARD, EXPIRY, ADDRESS]) {
            await pty.type(line);
            await pty.press("Enter");
          }
          await pty.waitFor(/(Discarded a line typed after[\s\S]*){3}/);
          await pty.press("Enter");
          const screen = await pty.waitFor("What you type is shown again, and runs as commands");
          for (const typed of [CARD, EXPIRY, ADDRESS]) {
            assert.ok(!screen.includes(typed), `${typed} on the screen:\n${screen}`);
          }
          assert.doesNotMatch(screen, /Unknown command/);
        },
      );

      await t.step("Up recalls the commands, not the y typed at the question", async () => {
        await pty.press("Up");
        await pty.waitFor(/bea> buy Lamp 30$/);
        await pty.press("Up");
        await pty.waitFor(/bea> register$/);
        await pty.press("C-u");
        await pty.waitFor(/bea> $/);
      });

      await t.step(
        "Ctrl-D on an empty line leaves, with a page too, saying what is open",
        async () => {
          await pty.press("C-d");
          await pty.waitFor(/Leaving with 1 open search \(Lamp\)/);
          assert.equal(await pty.exited(), 0);
        },
      );
    } finally {
      await server[Symbol.asyncDispose]();
    }
  },
});
