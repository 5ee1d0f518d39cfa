/**
 * Transcripts in the Markdown docs, checked against real runs. A checked
 * block is a fenced code block right after a comment that names it:
 *
 * ````md
 * <!-- transcript: trade -->
 * ```console
 * $ deno task -q shop peer --name bob
 * bob ready on UDP 41641 and TCP 34671; …
 * ```
 * ````
 *
 * A test runs the real thing, passes its lines (with the test's own ports
 * and paths already put back as a user would see them) to
 * {@linkcode checkTranscript}, which compares them line by line with the
 * block after {@linkcode normalize} has blanked what differs from run to
 * run (peer ports, keys, request numbers, times). A test that shows part
 * of a run cuts it itself, so that the block is always the test's lines.
 * With `SHOP_UPDATE_DOCS=1` (`deno task docs:update`) the block is
 * rewritten from the run instead.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Whether this run rewrites the blocks instead of checking them. */
export const UPDATING = Boolean(Deno.env.get("SHOP_UPDATE_DOCS"));

/** One checked block: its name and where its lines are in the file's text. */
export interface TranscriptBlock {
  readonly name: string;
  /** Offset of the block's first line, after the opening fence. */
  readonly start: number;
  /** Offset of the closing fence. */
  readonly end: number;
  readonly lines: string[];
}

/** Every `<!-- transcript: NAME -->` block of a Markdown text. */
export function transcriptBlocks(markdown: string): TranscriptBlock[] {
  const found: TranscriptBlock[] = [];
  for (const match of markdown.matchAll(/<!-- transcript: ([\w-]+) -->\n\n?(```[a-z]*\n)/g)) {
    const start = match.index + match[0].length;
    const end = markdown.indexOf("\n```", start - 1);
    assert.ok(end >= start - 1, `transcript ${match[1]} has a closing fence`);
    const body = markdown.slice(start, end + 1);
    found.push({
      name: match[1]!,
      start,
      end: end + 1,
      lines: body === "" ? [] : body.replace(/\n$/, "").split("\n"),
    });
  }
  return found;
}

/**
 * A line with what changes from run to run blanked: times and dates, peer
 * ports, key fingerprints and tokens, the random part of request numbers,
 * a LIST's sequence number, temporary directories, a request's age, and
 * the padding of table columns (whose width follows those values).
 */
export function normalize(line: string): string {
  return line
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z/g, "TIME")
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?/g, "TIME")
    .replace(/\/tmp\/[\w.-]+/g, "/tmp/DIR")
    .replace(/\b([A-Za-z0-9_]+)-[0-9a-f]{8}-(\d+)\b/g, "$1-RQ-$2")
    .replace(/\bs[0-9a-z]{5,10}-(\d+)\b/g, "sID-$1")
    .replace(/\b(UDP|TCP) \d+/g, "$1 PORT")
    .replace(/ 127\.0\.0\.1 \d+ \d+ /g, " 127.0.0.1 PORT PORT ")
    .replace(/"(udpPort|tcpPort)":\d+/g, '"$1":PORT')
    .replace(/\b(key|fingerprint) [A-Za-z0-9_-]{12}(?![A-Za-z0-9_-])/g, "$1 FP")
    .replace(/"(keyFingerprint|serverKeyFingerprint)":"[^"]*"/g, '"$1":"FP"')
    .replace(/\b(key|dh|ca|sig|cookie)=[A-Za-z0-9_-]+…?/g, "$1=…")
    .replace(/\b(LIST \S+ \S+ )\S+/g, "$1SEQ")
    .replace(/\b\d+s$/, "AGE")
    .replace(/(\S) {2,}/g, "$1  ")
    .trimEnd();
}

/** Options for {@linkcode checkTranscript}. */
export interface CheckOptions {
  /**
   * Lines whose order among their neighbours is the network's (the demo's
   * wire trace): a run of such lines is compared as a set, so a resend (the
   * same line again, as a busy machine makes them) counts once.
   */
  readonly unordered?: (line: string) => boolean;
}

/** The lines with each run of unordered ones sorted, normalized. */
function comparable(lines: readonly string[], unordered?: (line: string) => boolean): string[] {
  const out: string[] = [];
  let run: string[] = [];
  const flush = () => {
    out.push(...[...new Set(run)].sort());
    run = [];
  };
  for (const line of lines) {
    const normal = normalize(line);
    if (unordered?.(line)) run.push(normal);
    else {
      flush();
      out.push(normal);
    }
  }
  flush();
  return out;
}

/**
 * Checks a Markdown file's transcript block against a real run's lines, or
 * rewrites the block from them when {@linkcode UPDATING}.
 *
 * @param file The Markdown file, as a URL.
 * @param name The block's name, as in `<!-- transcript: NAME -->`.
 * @param actual The run's lines, as a user would see them.
 */
export async function checkTranscript(
  file: URL,
  name: string,
  actual: readonly string[],
  options: CheckOptions = {},
): Promise<void> {
  const text = await Deno.readTextFile(file);
  const blocks = transcriptBlocks(text).filter((block) => block.name === name);
  assert.equal(blocks.length, 1, `${file.pathname} has one transcript "${name}"`);
  const block = blocks[0]!;
  if (UPDATING) {
    const body = actual.map((line) => `${line}\n`).join("");
    await Deno.writeTextFile(file, text.slice(0, block.start) + body + text.slice(block.end));
    return;
  }
  assert.deepEqual(
    comparable(actual, options.unordered),
    comparable(block.lines, options.unordered),
    `The transcript "${name}" in ${file.pathname} differs from a real run ` +
      "(left: the run, right: the docs; variable parts blanked): " +
      "if the new output is right, run deno task docs:update",
  );
}
