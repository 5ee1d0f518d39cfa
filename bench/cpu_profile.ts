/**
 * Summarizes a V8 CPU profile (`deno run --cpu-prof` writes one per
 * process at exit): the functions with the most self time and the most
 * total time (self plus callees), as shares of the busy time.
 *
 * ```sh
 * deno task bench --only registrations --profile /tmp/prof
 * deno run --allow-read bench/cpu_profile.ts /tmp/prof/registrations/*.cpuprofile
 * deno run --allow-read bench/cpu_profile.ts FILE --from 12.5 --to 17   # seconds into the profile
 * ```
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** One function's share of a profile. */
export interface FunctionCost {
  readonly name: string;
  /** Time in the function itself, in ms. */
  readonly selfMs: number;
  /** Time in the function and what it called, in ms. */
  readonly totalMs: number;
}

/** What a profile shows. */
export interface ProfileSummary {
  readonly durationMs: number;
  /** Time not idle and not waiting in the event loop, in ms. */
  readonly busyMs: number;
  readonly functions: FunctionCost[];
}

const IDLE = new Set(["(idle)", "(program)"]);

/**
 * Aggregates a profile by function (name, file and line), optionally only
 * the samples between `fromMs` and `toMs` after the profile began.
 */
export function summarize(
  profile: CpuProfile,
  { fromMs = 0, toMs = Infinity }: { fromMs?: number; toMs?: number } = {},
): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Self time per node from the samples and their time deltas (µs).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let atUs = 0;
  for (let i = 0; i < samples.length; i++) {
    atUs += deltas[i] ?? 0;
    if (atUs < fromMs * 1000 || atUs >= toMs * 1000) continue;
    // A sample's time is the gap until the next one.
    const us = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + us);
  }
  const key = (frame: CallFrame) => {
    const file = frame.url.replace(/^.*\/(?=[^/]+\/[^/]+$)/, "");
    const name = frame.functionName || "(anonymous)";
    return file ? `${name} ${file}:${frame.lineNumber + 1}` : name;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const name = key(node.callFrame);
    if (IDLE.has(node.callFrame.functionName)) continue;
    busyUs += us;
    self.set(name, (self.get(name) ?? 0) + us);
    // Every distinct function on the stack gets the time once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const frameName = key(frame);
      if (frame.functionName === "(root)" || seen.has(frameName)) continue;
      seen.add(frameName);
      total.set(frameName, (total.get(frameName) ?? 0) + us);
    }
  }
  const functions = [...total.keys()].map((name) => ({
    name,
    selfMs: (self.get(name) ?? 0) / 1000,
    totalMs: total.get(name)! / 1000,
  }));
  const durationMs = (profile.endTime - profile.startTime) / 1000;
  return {
    durationMs: Math.min(durationMs, toMs) - Math.min(durationMs, fromMs),
    busyMs: busyUs / 1000,
    functions,
  };
}

/** The top lines of a summary, as text. */
export function report(summary: ProfileSummary, top = 25): string {
  const pct = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1).padStart(5)}%`;
  const lines = [
    `profile: ${summary.durationMs.toFixed(0)} ms, busy ${summary.busyMs.toFixed(0)} ms ` +
    `(${((100 * summary.busyMs) / summary.durationMs).toFixed(0)}%); shares of busy time`,
    "",
    "self time:",
    ...[...summary.functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)
      .map((f) => `  ${pct(f.selfMs)}  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}`),
    "",
    "total time (self + callees):",
    ...[...summary.functions].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)
      .map((f) => `  ${pct(f.totalMs)}  ${f.totalMs.toFixed(0).padStart(7)} ms  ${f.name}`),
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  if (Deno.args.length === 0) {
    console.error(
      "Usage: deno run --allow-read bench/cpu_profile.ts FILE.cpuprofile… [--top N] " +
        "[--from SECONDS] [--to SECONDS]",
    );
    Deno.exit(2);
  }
  let top = 25;
  const window: { fromMs?: number; toMs?: number } = {};
  const files: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) {
    const arg = Deno.args[i]!;
    if (arg === "--top") top = Number(Deno.args[++i]);
    else if (arg === "--from") window.fromMs = 1000 * Number(Deno.args[++i]);
    else if (arg === "--to") window.toMs = 1000 * Number(Deno.args[++i]);
    else files.push(arg);
  }
  for (const file of files) {
    const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
    console.log(`${file}\n${report(summarize(profile, window), top)}\n`);
  }
}
