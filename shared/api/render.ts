/** The text of each generated CRD file, so the writer and the staleness test agree byte for byte. */
import { stringify } from 'yaml';
import { toCrd } from './crd.ts';
import { KINDS } from './index.ts';

const HEADER = '# Generated from shared/api by `npm run gen:crds`. Do not edit by hand.\n';

export function renderCrdFiles(): { file: string; text: string }[] {
  return KINDS.map((def) => {
    const crd = toCrd(def);
    return { file: `${crd.metadata.name}.yaml`, text: HEADER + stringify(crd, { lineWidth: 0 }) };
  });
}
