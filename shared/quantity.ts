/**
 * A storage quantity (`1Gi`, `500M`, `1073741824`) in bytes, as Kubernetes' resource.Quantity
 * reads it: the local snapshot controller's sizes, and a snapshot Backup's sizeBytes. Written here
 * because client-node keeps its `quantityToScalar` out of its public exports (and functions do not
 * load client-node); storage sizes need only whole numbers with the binary and decimal suffixes.
 */
const FACTORS: Record<string, bigint> = {
  '': 1n,
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  P: 10n ** 15n,
  E: 10n ** 18n,
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
  Pi: 2n ** 50n,
  Ei: 2n ** 60n,
};

export function parseQuantity(q: string): bigint {
  const m = /^([0-9]+)(|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$/.exec(q.trim());
  if (!m) throw new RangeError(`not a whole storage quantity: ${JSON.stringify(q)}`);
  return BigInt(m[1] as string) * (FACTORS[m[2] as string] as bigint);
}
