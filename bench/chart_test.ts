import assert from "node:assert/strict";
import { lineChart, ticks } from "./chart.ts";

Deno.test("ticks are round steps from 0 that cover the largest value", () => {
  assert.deepEqual(ticks(100_000), [0, 20_000, 40_000, 60_000, 80_000, 100_000]);
  assert.deepEqual(ticks(521), [0, 100, 200, 300, 400, 500, 600]);
  assert.deepEqual(ticks(7), [0, 2, 4, 6, 8]);
});

Deno.test("a chart draws one line per series, marks the measured points and escapes text", () => {
  const svg = lineChart({
    title: "Fan-out <10 ms & more",
    xLabel: "sellers",
    yLabel: "ms",
    series: [
      { label: "median", color: "#1f6feb", points: [[1_000, 43], [10_000, 521]], values: "below" },
      { label: "target", color: "#d1242f", dashed: true, points: [[0, 0], [10_000, 100]] },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.equal(svg.match(/<circle /g)?.length, 2, "the dashed target has no markers");
  assert.match(svg, />521</);
  assert.match(svg, /Fan-out &lt;10 ms &amp; more/);
  assert.match(svg, />10,000</, "the x axis reaches the largest seller count");
});
