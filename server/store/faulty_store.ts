/**
 * Fault points for tests of real server processes: `SHOP_TEST_STORE_FAULTS`
 * makes chosen commits of any store fail, so that the honest-commit path
 * (retry in order, nothing acknowledged before it is stored, nothing
 * doubled) is exercised end to end where no real fault can be made on
 * cue. Off unless the variable is set; never set it in production.
 *
 * The value is a comma-separated list of `KIND:COUNT@FROM`: `COUNT`
 * commits starting with commit number `FROM` (counted from 1 since the
 * start) are made to fail:
 *
 * - `before`: the commit is not made, and throws;
 * - `after`: the commit is made, then throws (its answer was "lost");
 * - `slow`: the commit waits a second first, then is made.
 *
 * @example
 * ```sh
 * SHOP_TEST_STORE_FAULTS=before:5@10,after:3@30 shop server
 * ```
 *
 * @module
 */
import type { ServerStore } from "./store.ts";

/** The variable that turns the fault points on. */
export const FAULTS_VARIABLE = "SHOP_TEST_STORE_FAULTS";

/** One fault: what happens to which commits. */
export interface StoreFault {
  readonly kind: "before" | "after" | "slow";
  readonly count: number;
  readonly from: number;
}

/**
 * Parses a fault list.
 *
 * @throws {SyntaxError} If an entry is not `KIND:COUNT@FROM`.
 */
export function parseFaults(text: string): StoreFault[] {
  return text.split(",").filter((part) => part.trim() !== "").map((part) => {
    const match = /^(before|after|slow):(\d{1,9})@(\d{1,9})$/.exec(part.trim());
    if (!match) {
      throw new SyntaxError(
        `Cannot parse ${FAULTS_VARIABLE} entry "${part}": expected KIND:COUNT@FROM with KIND before, after or slow, like before:5@10`,
      );
    }
    return {
      kind: match[1] as StoreFault["kind"],
      count: Number(match[2]),
      from: Number(match[3]),
    };
  });
}

/** The store with the faults applied to its commits (only `apply` is touched). */
export function withFaults(store: ServerStore, faults: readonly StoreFault[]): ServerStore {
  let commits = 0;
  const faultOf = (n: number) =>
    faults.find((fault) => n >= fault.from && n < fault.from + fault.count);
  const apply: ServerStore["apply"] = async (mutations, marks) => {
    const fault = faultOf(++commits);
    if (fault?.kind === "before") throw new Error(`Injected fault: commit ${commits} not made`);
    if (fault?.kind === "slow") await new Promise((resolve) => setTimeout(resolve, 1_000));
    await store.apply(mutations, marks);
    if (fault?.kind === "after") {
      throw new Error(`Injected fault: commit ${commits} made, its answer lost`);
    }
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === "apply") return apply;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
