/**
 * The types of the parts of Preact the peer's page uses. Preact's own
 * types bring in the DOM's library, whose stream types clash with Deno's in
 * the one program `deno check .` makes of the whole project; these do not.
 *
 * @module
 */

/** What `h` (and htm's templates) make. */
export interface VNode {
  readonly type: unknown;
  readonly props: unknown;
}

/** Makes a virtual node of a tag or a component. */
export function h(
  type: unknown,
  props: Readonly<Record<string, unknown>> | null,
  ...children: unknown[]
): VNode;

/** Renders a node into an element of the page. */
export function render(node: VNode | VNode[], parent: unknown): void;
