/**
 * The one way both shells store a machine's writes: all of one batch in
 * one atomic KV commit, or none of them.
 *
 * @module
 */
import type { KeyedRecord, Write } from "../protocol/effects.ts";

/**
 * Applies writes in one atomic commit.
 *
 * @param kv The store.
 * @param writes `save` and `delete` effects, in order (a later one wins).
 * @throws {Error} If the commit is rejected; nothing was written then.
 */
export async function applyWrites<R extends KeyedRecord>(
  kv: Deno.Kv,
  writes: readonly Write<R>[],
): Promise<void> {
  if (writes.length === 0) return;
  const op = kv.atomic();
  for (const write of writes) {
    if (write.kind === "save") op.set(write.key, (write as { value: unknown }).value);
    else op.delete(write.key);
  }
  const result = await op.commit();
  if (!result.ok) throw new Error("The KV commit was rejected");
}
