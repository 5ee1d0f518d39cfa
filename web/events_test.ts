import assert from "node:assert/strict";
import { EventHub } from "./events.ts";

/** Reads a stream's frames until `count` events came. */
async function events(response: Response, count: number): Promise<string[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const found = () => [...text.matchAll(/^event: (.*)$/gm)].map((match) => match[1]!);
  while (found().length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  return [...text.matchAll(/^id: (.*)\nevent: (.*)\ndata: (.*)$/gm)].map((m) => `${m[1]} ${m[3]}`)
    .concat(found().filter((name) => name === "reset").map(() => "reset"));
}

Deno.test("a reconnecting client gets the events after its Last-Event-ID", async () => {
  const hub = new EventHub();
  hub.publish("output", 1);
  hub.publish("output", 2);
  hub.publish("output", 3);
  const first = await events(hub.response(new Request("http://x/")), 3);
  assert.deepEqual(first.map((line) => line.split(" ")[1]), ["1", "2", "3"]);
  const secondId = first[1]!.split(" ")[0]!;
  const again = await events(
    hub.response(new Request("http://x/", { headers: { "last-event-id": secondId } })),
    1,
  );
  assert.deepEqual(again.map((line) => line.split(" ")[1]), ["3"]);
  const stranger = await events(
    hub.response(new Request("http://x/", { headers: { "last-event-id": "old.2" } })),
    4,
  );
  assert.equal(stranger.at(-1), "reset");
  hub.close();
});
