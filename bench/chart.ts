/**
 * A small SVG line chart, written by hand (no library): linear axes with
 * round ticks, one polyline per series with its points marked and
 * labelled, a legend, and the axis titles.
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  readonly label: string;
  readonly points: readonly (readonly [x: number, y: number])[];
  /** A CSS color. */
  readonly color: string;
  /** Drawn dashed, without markers: for targets and limits. */
  readonly dashed?: boolean;
  /** Write each point's y value above it (or below). */
  readonly values?: "above" | "below";
}

/** Options for {@linkcode lineChart}. */
export interface ChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
  /** Axis ranges; by default from 0 to the largest value, rounded up to a tick. */
  readonly xMax?: number;
  readonly yMax?: number;
}

const MARGIN = { right: 44, bottom: 56, left: 84 };
/** Rough width of a character at 12px, to lay out the legend. */
const CHAR_WIDTH = 6.8;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/**
 * Draws a line chart as an SVG document.
 *
 * @example
 * ```ts
 * const svg = lineChart({
 *   title: "Registrations per second",
 *   xLabel: "registered peers",
 *   yLabel: "registrations/s",
 *   series: [{ label: "32 in flight", color: "#1f77b4", points: [[0, 9000], [10000, 8800]] }],
 * });
 * ```
 */
export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 760;
  const height = options.height ?? 440;
  const plotW = width - MARGIN.left - MARGIN.right;
  // The legend goes in rows under the title, as many entries a row as fit.
  const legendTop = options.subtitle ? 62 : 44;
  const legend: { series: Series; x: number; y: number }[] = [];
  let cursor = MARGIN.left;
  let row = 0;
  for (const series of options.series) {
    const entry = 30 + series.label.length * CHAR_WIDTH + 18;
    if (cursor + entry > MARGIN.left + plotW && cursor > MARGIN.left) {
      cursor = MARGIN.left;
      row++;
    }
    legend.push({ series, x: cursor, y: legendTop + row * 18 });
    cursor += entry;
  }
  const top = legendTop + (legend.length > 0 ? (row + 1) * 18 : 0) + 12;
  const plotH = height - top - MARGIN.bottom;
  const all = options.series.flatMap((series) => series.points);
  const xTicks = ticks(options.xMax ?? Math.max(1, ...all.map(([x]) => x)));
  const yTicks = ticks(options.yMax ?? Math.max(1, ...all.map(([, y]) => y)));
  const xMax = xTicks.at(-1)!;
  const yMax = yTicks.at(-1)!;
  const sx = (x: number) => MARGIN.left + (x / xMax) * plotW;
  const sy = (y: number) => top + plotH - (Math.min(y, yMax) / yMax) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="16" font-weight="600">${
      escape(options.title)
    }</text>`,
  );
  if (options.subtitle) {
    out.push(
      `<text x="${MARGIN.left}" y="42" fill="#555">${escape(options.subtitle)}</text>`,
    );
  }
  for (const y of yTicks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${n(sy(y))}" y2="${
        n(sy(y))
      }" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${n(sy(y) + 4)}" text-anchor="end">${formatTick(y)}</text>`,
    );
  }
  for (const x of xTicks) {
    out.push(
      `<line x1="${n(sx(x))}" x2="${n(sx(x))}" y1="${top + plotH}" y2="${
        top + plotH + 5
      }" stroke="#333"/>`,
      `<text x="${n(sx(x))}" y="${top + plotH + 20}" text-anchor="middle">${formatTick(x)}</text>`,
    );
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${top + plotH}" y2="${
      top + plotH
    }" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${
      escape(options.xLabel)
    }</text>`,
    `<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escape(options.yLabel)
    }</text>`,
  );
  for (const series of options.series) {
    const path = series.points.map(([x, y]) => `${n(sx(x))},${n(sy(y))}`).join(" ");
    out.push(
      `<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2"${
        series.dashed ? ' stroke-dasharray="6 4"' : ""
      }/>`,
    );
    if (series.dashed) continue;
    for (const [x, y] of series.points) {
      out.push(`<circle cx="${n(sx(x))}" cy="${n(sy(y))}" r="3.5" fill="${series.color}"/>`);
      if (series.values) {
        // At the edges of the plot the label leans inward, clear of the axis.
        const anchor = sx(x) - MARGIN.left < 24
          ? "start"
          : MARGIN.left + plotW - sx(x) < 24
          ? "end"
          : "middle";
        const dx = anchor === "start" ? 6 : anchor === "end" ? -6 : 0;
        out.push(
          `<text x="${n(sx(x) + dx)}" y="${
            n(sy(y) + (series.values === "below" ? 18 : -8))
          }" text-anchor="${anchor}" fill="${series.color}">${formatValue(y)}</text>`,
        );
      }
    }
  }
  for (const { series, x, y } of legend) {
    out.push(
      `<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${series.color}" ` +
        `stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${x + 30}" y="${y}">${escape(series.label)}</text>`,
    );
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** Round ticks from 0 to at least `max`: 1, 2 or 5 times a power of ten apart. */
export function ticks(max: number, target = 6): number[] {
  const raw = max / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const count = Math.ceil(max / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

function formatTick(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

function formatValue(value: number): string {
  return value >= 100
    ? Math.round(value).toLocaleString("en-US")
    : value.toLocaleString("en-US", { maximumFractionDigits: 1 });
}

function n(value: number): string {
  return value.toFixed(1);
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}
