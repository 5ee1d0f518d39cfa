/**
 * The peer's page (`shop peer --web`): the page server and its input.
 *
 * @module
 */
import { type LineSource, mergeLines, quitOnSignal } from "./input.ts";
import type { PeerPage } from "./peer_page.ts";

export * from "./input.ts";
export * from "./peer_page.ts";
export type * from "./page_types.ts";

/**
 * The input of a peer serving a page: the page's lines, standard input's,
 * and `quit` at SIGINT or SIGTERM. The end of standard input does not stop
 * the peer (it may run in the background); `quit` from the terminal, or a
 * signal, does.
 */
export function pageInput(page: PeerPage, stdin: AsyncIterable<string>): AsyncIterable<string> {
  const sources: LineSource[] = [
    { lines: page.lines },
    { lines: quitOnSignal() },
    { lines: stdin },
  ];
  return mergeLines(sources);
}
