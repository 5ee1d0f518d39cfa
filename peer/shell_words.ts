/**
 * Splits a command line into words the way a POSIX shell does for simple
 * cases: spaces separate words, single and double quotes group them, and a
 * backslash escapes the next character (outside single quotes).
 *
 * @module
 */

/**
 * Splits a line into words.
 *
 * @example
 * ```ts
 * splitWords(`sell Laptop 500 "a fast one"`); // ["sell", "Laptop", "500", "a fast one"]
 * ```
 * @throws {SyntaxError} If a quote is left open or the line ends in a backslash.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else word += char;
    } else if (char === "\\") {
      const next = line[++i];
      if (next === undefined) {
        throw new SyntaxError("Cannot end a line with a backslash: escape what follows it");
      }
      word += next;
      inWord = true;
    } else if (quote === '"') {
      if (char === '"') quote = undefined;
      else word += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) throw new SyntaxError(`Unclosed quote ${quote}: close it before the end of the line`);
  if (inWord) words.push(word);
  return words;
}
