/**
 * The negotiated extensions of our peers and server, as one typed set.
 *
 * A REGISTER offers them as words after the classic fields (`shop/1 from
 * ack no-offer auth key=… ts=… sig=…`); the server's REGISTERED names the
 * ones it agreed. Words with `=` are tokens of the handshake, not features.
 * A classic peer or server offers none, so every check reads "does the
 * other side speak X" and falls back to the classic behaviour when not.
 *
 * @module
 */

/**
 * Every extension this implementation knows:
 * - `from`: FOUND names the seller;
 * - `ack`: acknowledgements and retransmission both ways (UDP and the
 *   Shipping_Info on TCP);
 * - `no-offer`: NO_OFFER answers a SEARCH the seller cannot serve;
 * - `auth`: signed registration, sealed datagrams and TLS;
 * - `book`: the offer book: LIST, BROWSE and CATALOGUE, ALIVE, and a
 *   RESERVE answered with OFFER (held) or NO_OFFER (declined).
 */
export const KNOWN_EXTENSIONS = ["from", "ack", "no-offer", "auth", "book"] as const;

/** One extension word. */
export type Extension = typeof KNOWN_EXTENSIONS[number];

const KNOWN: ReadonlySet<string> = new Set(KNOWN_EXTENSIONS);

/** An immutable set of agreed extensions. */
export class ExtensionSet implements Iterable<Extension> {
  readonly #words: readonly Extension[];

  private constructor(words: readonly Extension[]) {
    this.#words = words;
  }

  /** No extension: a classic peer or server. */
  static readonly NONE: ExtensionSet = new ExtensionSet([]);

  /**
   * The known features among extension words, in their order, once each;
   * `name=value` tokens and unknown words are left out.
   *
   * @example
   * ```ts
   * ExtensionSet.from(["from", "ack", "key=abc", "x-new"]).has("ack"); // true
   * ```
   */
  static from(words: Iterable<string> | undefined): ExtensionSet {
    const kept: Extension[] = [];
    for (const word of words ?? []) {
      if (KNOWN.has(word) && !kept.includes(word as Extension)) kept.push(word as Extension);
    }
    return kept.length === 0 ? ExtensionSet.NONE : new ExtensionSet(kept);
  }

  /** Whether the other side speaks `extension`. */
  has(extension: Extension): boolean {
    return this.#words.includes(extension);
  }

  /** The extensions of both this set and `other`, in this set's order. */
  intersect(other: ExtensionSet | Iterable<string>): ExtensionSet {
    const them = other instanceof ExtensionSet ? other : ExtensionSet.from(other);
    return ExtensionSet.from(this.#words.filter((word) => them.has(word)));
  }

  /** How many extensions are agreed. */
  get size(): number {
    return this.#words.length;
  }

  /** The words, for a record or a message. */
  toArray(): Extension[] {
    return [...this.#words];
  }

  [Symbol.iterator](): Iterator<Extension> {
    return this.#words[Symbol.iterator]();
  }

  /** The words joined by `, `, or `none`. */
  toString(): string {
    return this.#words.length === 0 ? "none" : this.#words.join(", ");
  }
}
