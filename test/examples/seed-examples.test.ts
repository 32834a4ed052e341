/**
 * The seed examples (examples/seed-00*.yaml) are what `cairn convert` makes of each seed's own
 * manifest — the real CLI on the seed document's YAML block — and where an example differs, the
 * difference is the one its comments name.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../local/runtime.ts';
import { cairn } from '../cli/helpers.ts';
import { seedBlock } from '../fixtures/seeds/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary YAML.
type Doc = any;

async function example(file: string): Promise<{ docs: Doc[]; text: string }> {
  const text = await readFile(join(REPO_ROOT, 'examples', file), 'utf8');
  return { docs: parseAllDocuments(text).map((d) => d.toJS()), text };
}

test("seed 001: the example's DatabaseBackup is cairn convert's of the seed's backup-job-cr.yaml, plus the retention it names", async (t) => {
  const r = await cairn(['convert', '-f', '-'], (await seedBlock('001-backup-job-cr.yaml')).text);
  t.is(r.code, 0, r.stderr);
  const [fromSeed] = parseAllDocuments(r.stdout).map((d) => d.toJS());
  const { docs, text } = await example('seed-001-gcs-schema.yaml');
  const dbb = docs.find((d) => d?.kind === 'DatabaseBackup');
  t.deepEqual(dbb.metadata, fromSeed.metadata);
  const { retention, ...spec } = dbb.spec;
  t.deepEqual(spec, fromSeed.spec, 'everything but retention is what convert writes');
  t.is(fromSeed.spec.retention, undefined, 'convert keeps every backup, as the seed did');
  t.deepEqual(retention, { keepLast: 48 });
  t.regex(text, /keepLast: 48 +# the one difference from `cairn convert`/);
  // What convert leaves as TODO, the example does.
  const sa = docs.find((d) => d?.kind === 'ServiceAccount');
  t.is(sa.metadata.name, fromSeed.spec.serviceAccountName);
  t.regex(sa.metadata.annotations['iam.gke.io/gcp-service-account'], /^db-operator-gsa@/);
});
