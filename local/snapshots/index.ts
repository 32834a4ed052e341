/** The CSI snapshot API, locally: the snapshot CRDs and a controller that snapshots claim folders. */
import { stringify } from 'yaml';
import { SNAPSHOT_CRDS } from './crds.ts';

export { FAIL_PARAMETER, type SnapshotController, startSnapshotController } from './controller.ts';

/** Applies the snapshot CRDs (crds.ts) with the runtime's apply (create or replace), as YAML texts. */
export async function installSnapshotCrds(apply: (texts: string[]) => Promise<unknown>): Promise<void> {
  await apply(SNAPSHOT_CRDS.map((crd) => stringify(crd)));
}
