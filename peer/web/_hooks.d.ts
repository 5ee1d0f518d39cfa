/**
 * The types of the Preact hooks the peer's page uses (see `_preact.d.ts`
 * for why they are not Preact's own).
 *
 * @module
 */

/** A state and its setter, which takes a value or a function of the last one. */
export function useState<S>(initial: S | (() => S)): [S, (next: S | ((previous: S) => S)) => void];

/** Runs an effect after rendering, again when an input changed; its result cleans up. */
export function useEffect(
  effect: () => void | (() => void),
  inputs?: readonly unknown[],
): void;

/** A box that keeps a value across renders. */
export function useRef<T>(initial: T): { current: T };

/** The same function across renders while the inputs stay the same. */
export function useCallback<T extends (...args: never[]) => unknown>(
  callback: T,
  inputs: readonly unknown[],
): T;
