/**
 * Reads text lines from a byte stream, the same from a terminal as from a
 * pipe (prompt libraries assume a terminal and misbehave on pipes).
 *
 * @module
 */

/**
 * Yields each line of the stream without its line ending; a last line
 * without a newline is yielded too.
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, end).replace(/\r$/, "");
      buffered = buffered.slice(end + 1);
    }
  }
  if (buffered !== "") yield buffered.replace(/\r$/, "");
}
