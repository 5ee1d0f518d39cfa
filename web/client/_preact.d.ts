/**
 * The parts of Preact (and `preact/hooks`) the pages use, for `deno check`
 * of the pages' scripts. Preact's own declarations reference the DOM
 * library (`/// <reference lib="dom" />`), and `deno check` checks the
 * pages in one program with the Deno code that text-imports them: that
 * library would then apply to every Deno module (its streams clash with
 * Deno's). So the scripts take these types instead (`// @ts-types`).
 *
 * @module
 */

/** What `h` makes. */
export interface VNode {
  readonly type: unknown;
  readonly props: unknown;
}

/** What a component may render. */
export type ComponentChild = VNode | string | number | bigint | boolean | null | undefined;
export type ComponentChildren = readonly ComponentChildren[] | ComponentChild;

/** Makes an element (htm calls it). */
export function h(
  type: unknown,
  props: Record<string, unknown> | null,
  ...children: unknown[]
): VNode;

/** Renders into a page's element. */
export function render(vnode: ComponentChildren, parent: object): void;

/** A new state, or a function of the previous one. */
export type StateUpdater<S> = S | ((previous: S) => S);

export function useState<S>(initial: S | (() => S)): [S, (value: StateUpdater<S>) => void];

export interface RefObject<T> {
  current: T;
}

export function useRef<T>(initial: T): RefObject<T>;

export function useEffect(effect: () => void | (() => void), inputs?: readonly unknown[]): void;

// deno-lint-ignore no-explicit-any
export function useCallback<T extends (...args: any[]) => unknown>(
  callback: T,
  inputs: readonly unknown[],
): T;
