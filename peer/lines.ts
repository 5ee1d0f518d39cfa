/**
 * Reads text lines from a byte stream, the same from a terminal as from a
 * pipe (prompt libraries assume a terminal and misbehave on pipes).
 *
 * @module
 */

/** Options for {@linkcode readLines}. */
export interface ReadLinesOptions {
  /**
   * Whether the terminal is in raw mode now (while a secret is typed without
   * echo). Raw input is read key by key: Enter gives `\r`, so `\r` ends a
   * line too; backspace (0x7f or 0x08) removes the last character; Ctrl-C
   * (0x03) and Ctrl-D (0x04) drop what was typed and come out as a line of
   * that one character, for the reader to treat as "abort".
   */
  readonly raw?: () => boolean;
}

const ENTER = new Set(["\r", "\n"]);
const BACKSPACE = new Set(["\x7f", "\b"]);
const ABORT = new Set(["\x03", "\x04"]);

/**
 * Yields each line of the stream without its line ending; a last line
 * without a newline is yielded too.
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  options: ReadLinesOptions = {},
): AsyncGenerator<string> {
  const raw = options.raw ?? (() => false);
  /** Text read but not looked at yet. */
  let buffered = "";
  /** The start of a line typed in raw mode. */
  let typed = "";
  /** Whether the last raw key was `\r`, so that a `\n` right after it is no second line. */
  let afterReturn = false;
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    while (buffered !== "") {
      // The mode is asked again for every line: answering one line may
      // switch the terminal for the next.
      if (afterReturn && buffered[0] === "\n") {
        // "\r\n" after a raw line: the line ended already.
        afterReturn = false;
        buffered = buffered.slice(1);
        continue;
      }
      if (raw()) {
        const char = buffered[0]!;
        buffered = buffered.slice(1);
        afterReturn = char === "\r";
        if (ENTER.has(char)) {
          const line = typed;
          typed = "";
          yield line;
        } else if (BACKSPACE.has(char)) {
          typed = [...typed].slice(0, -1).join("");
        } else if (ABORT.has(char)) {
          typed = "";
          yield char;
        } else {
          typed += char;
        }
        continue;
      }
      afterReturn = false;
      const end = buffered.indexOf("\n");
      if (end < 0) break;
      const line = (typed + buffered.slice(0, end)).replace(/\r$/, "");
      typed = "";
      buffered = buffered.slice(end + 1);
      yield line;
    }
  }
  const rest = typed + buffered;
  if (rest !== "") yield rest.replace(/\r$/, "");
}
