/**
 * Checks that no local modules import each other in a cycle, counting type-only imports,
 * re-exports (`export ... from`) and JSDoc imports in .js files, which `deno check` accepts but
 * which tie modules together so that none can be read, tested or moved alone.
 *
 * The module graph comes from `deno info --json`, which parses every static import, `import
 * type`, `export ... from`, `/** @import ... *\/` and `{import("./x.js").T}` with Deno's own
 * parser; dynamic `import()` calls are left out, since they load lazily and cannot deadlock
 * module evaluation. `npm:`, `node:`, `jsr:` and remote modules are ignored.
 *
 * Run it from the project root (the `check` task does):
 *
 * ```sh
 * deno run --allow-read --allow-run tools/import_cycles.ts
 * ```
 *
 * It prints each cycle as a path, `a.ts → b.ts → a.ts`, and exits with status 1 if there is one.
 *
 * @module
 */

import { join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Extensions of the modules the check reads. */
const MODULE_EXTENSIONS = [".ts", ".tsx", ".mts", ".js", ".jsx", ".mjs"];

/** The local import graph: each module (a path relative to the root, with `/`) → what it imports. */
export type ImportGraph = Map<string, Set<string>>;

/** What {@linkcode checkImportCycles} found. */
export interface ImportCycleReport {
  /** How many local modules the graph holds. */
  modules: number;
  /** Each cycle as a path of modules that starts and ends with the same module. */
  cycles: string[][];
}

/**
 * Finds cycles in an import graph: one shortest cycle through each module that is on any cycle,
 * so that every module caught in a cycle shows up in at least one reported path. The result is
 * deterministic (modules are visited in sorted order).
 *
 * @param graph Each module → the modules it imports.
 * @returns The cycles, each a path `[a, b, ..., a]`.
 * @example
 * ```ts
 * findCycles(new Map([["a.ts", new Set(["b.ts"])], ["b.ts", new Set(["a.ts"])]]));
 * // [["a.ts", "b.ts", "a.ts"]]
 * ```
 */
export function findCycles(graph: ImportGraph): string[][] {
  const cycles: string[][] = [];
  for (const component of stronglyConnected(graph)) {
    const members = new Set(component);
    const covered = new Set<string>();
    for (const start of [...component].sort()) {
      if (covered.has(start)) continue;
      const cycle = shortestCycle(graph, members, start);
      if (cycle === undefined) continue; // a lone module that does not import itself
      cycles.push(cycle);
      for (const module of cycle) covered.add(module);
    }
  }
  return cycles.sort((a, b) => a.join("\0").localeCompare(b.join("\0")));
}

/** Tarjan's algorithm, iterative so that deep import chains cannot overflow the stack. */
function stronglyConnected(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of [...graph.keys()].sort()) {
    if (index.has(root)) continue;
    const work: { node: string; edges: string[]; at: number }[] = [];
    const open = (node: string) => {
      index.set(node, next);
      low.set(node, next);
      next++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, edges: [...(graph.get(node) ?? [])].sort(), at: 0 });
    };
    open(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      if (frame.at < frame.edges.length) {
        const target = frame.edges[frame.at++]!;
        if (!index.has(target)) open(target);
        else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) {
        low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component);
      }
    }
  }
  return components;
}

/** Breadth-first search from `start` back to itself, staying inside one component. */
function shortestCycle(
  graph: ImportGraph,
  members: Set<string>,
  start: string,
): string[] | undefined {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (const target of [...(graph.get(node) ?? [])].sort()) {
      if (!members.has(target)) continue;
      if (target === start) {
        const back: string[] = [];
        for (let at = node; at !== start; at = cameFrom.get(at)!) back.push(at);
        return [start, ...back.reverse(), start];
      }
      if (cameFrom.has(target)) continue;
      cameFrom.set(target, node);
      queue.push(target);
    }
  }
  return undefined;
}

/**
 * Lists the module files under a root, skipping hidden folders, `node_modules` and what the
 * root's deno.json excludes.
 *
 * @param root An absolute folder path.
 * @returns Absolute paths, sorted.
 */
export async function listModules(root: string): Promise<string[]> {
  const excluded = (await readExcludes(root)).map((path) => join(root, path));
  const found: string[] = [];
  const walk = async (folder: string) => {
    for await (const entry of Deno.readDir(folder)) {
      const path = join(folder, entry.name);
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      if (excluded.some((skip) => path === skip || path.startsWith(skip + sep))) continue;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && MODULE_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) {
        found.push(path);
      }
    }
  };
  await walk(root);
  return found.sort();
}

async function readExcludes(root: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, "deno.json"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const config = JSON.parse(text) as { exclude?: unknown };
  if (!Array.isArray(config.exclude)) return [];
  return config.exclude
    .filter((path): path is string => typeof path === "string")
    .map((path) => path.replace(/\/+$/, ""));
}

interface DenoInfoDependency {
  code?: { specifier?: string };
  type?: { specifier?: string };
  isDynamic?: boolean;
}

interface DenoInfo {
  modules: { specifier: string; dependencies?: DenoInfoDependency[]; error?: string }[];
}

/**
 * Builds the local import graph of the modules under a root with `deno info --json`, which
 * resolves through the root's deno.json (its import map) when there is one.
 *
 * @param root An absolute folder path.
 * @returns Each module (relative to the root, `/`-separated) → the local modules it imports.
 */
export async function buildImportGraph(root: string): Promise<ImportGraph> {
  const files = await listModules(root);
  const graph: ImportGraph = new Map();
  if (files.length === 0) return graph;
  // One run of deno info over a root that imports every module, rather than one run per module.
  const entry = "data:application/typescript," +
    encodeURIComponent(files.map((file) => `import "${pathToFileURL(file).href}";\n`).join(""));
  const hasConfig = await Deno.stat(join(root, "deno.json")).then(() => true, () => false);
  const args = ["info", "--json", ...(hasConfig ? ["--frozen"] : ["--no-config"]), entry];
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const reason = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot read the import graph of "${root}" with deno info: ${reason}`);
  }
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as DenoInfo;
  const local = (specifier: string | undefined): string | undefined => {
    if (specifier === undefined || !specifier.startsWith("file:")) return undefined;
    const path = relative(root, fileURLToPath(specifier));
    if (path.startsWith("..")) return undefined;
    return path.split(sep).join("/");
  };
  for (const module of info.modules) {
    const from = local(module.specifier);
    if (from === undefined) continue;
    const targets = graph.get(from) ?? new Set<string>();
    graph.set(from, targets);
    for (const dependency of module.dependencies ?? []) {
      if (dependency.isDynamic) continue;
      for (const resolved of [dependency.code?.specifier, dependency.type?.specifier]) {
        const to = local(resolved);
        if (to !== undefined) targets.add(to);
      }
    }
  }
  return graph;
}

/**
 * Reads the import graph under a root and finds its cycles.
 *
 * @param root An absolute folder path.
 * @returns How many modules there are and the cycles among them.
 */
export async function checkImportCycles(root: string): Promise<ImportCycleReport> {
  const graph = await buildImportGraph(root);
  return { modules: graph.size, cycles: findCycles(graph) };
}

/**
 * Says what a check found, as the command prints it.
 *
 * @param report What {@linkcode checkImportCycles} returned.
 * @returns Lines of text, without a final newline.
 */
export function formatReport(report: ImportCycleReport): string {
  if (report.cycles.length === 0) {
    return `No import cycles among ${report.modules} modules`;
  }
  const count = report.cycles.length === 1
    ? "1 import cycle"
    : `${report.cycles.length} import cycles`;
  return [
    `Found ${count} among ${report.modules} modules (type-only imports count too):`,
    ...report.cycles.map((cycle) => `  ${cycle.join(" → ")}`),
    "Move what the modules share (types, constants) to a leaf module that imports neither",
  ].join("\n");
}

if (import.meta.main) {
  const report = await checkImportCycles(Deno.cwd());
  const text = formatReport(report);
  if (report.cycles.length > 0) {
    console.error(text);
    Deno.exit(1);
  }
  console.log(text);
}
