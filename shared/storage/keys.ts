import { InvalidSpec } from '../errors.ts';

/**
 * Refuses keys that would escape a PVC root or make odd object names: empty, absolute, `.`/`..`
 * segments, empty segments, NUL.
 */
export function checkKey(key: string): string {
  if (key.length === 0 || key.length > 1024) throw new InvalidSpec('key', 'must be 1-1024 characters');
  if (key.startsWith('/')) throw new InvalidSpec('key', `must be relative, got ${JSON.stringify(key)}`);
  if (key.includes('\0')) throw new InvalidSpec('key', 'must not contain NUL');
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') {
      throw new InvalidSpec('key', `has an empty, "." or ".." segment: ${JSON.stringify(key)}`);
    }
  }
  return key;
}

/** Splits `items` into arrays of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
