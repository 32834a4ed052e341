/**
 * Every func.yaml in the repository against the rules of knative/func's own published schema
 * (./func-yaml-schema.ts: required fields such as `created`, enums, no unknown fields) and
 * its latest migration (specVersion), and each function folder's build against what func's
 * builders run (issue 18, item 2):
 *
 * - `func deploy` with the pack builder (the default) hands `build.buildEnvs` to the Paketo Node
 *   buildpacks, whose node-run-script step runs the package.json scripts named in
 *   BP_NODE_RUN_SCRIPTS after installing dependencies (knative/func templates/typescript/manifest.yaml
 *   sets `build`); the image then starts the Procfile's `web` process, or `npm start`.
 * - The build context is the func.yaml's folder only (pkg/buildpacks/builder.go: AppPath f.Root,
 *   minus .funcignore). A per-function folder cannot bundle shared/ from outside it, so its `build`
 *   script only checks that the bundle is there and says what to run when it is not.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import ajvFormats from 'ajv-formats';
import test from 'ava';
import { parse } from 'yaml';
import { FuncYaml } from './func-yaml-schema.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
/** The highest migration in knative/func's pkg/functions/function_migrations.go (at the commit func-yaml-schema.ts names). */
const LATEST_SPEC_VERSION = '0.36.0';

const ajv = new Ajv({ allErrors: true, strict: false });
// CommonJS with an `exports.default`: that is what ESM's default import holds here.
ajvFormats.default(ajv);
const validate = ajv.compile(FuncYaml);

async function funcYamls(): Promise<string[]> {
  const { stdout } = await run(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '*func.yaml'],
    {
      cwd: root,
    },
  );
  return stdout.split('\n').filter((f) => f.endsWith('func.yaml'));
}

test('the repository has the func.yaml files the README names', async (t) => {
  const files = await funcYamls();
  t.true(files.includes('func.yaml'));
  t.true(files.includes('examples/notifications/chat-notifier/func.yaml'));
  t.true(files.filter((f) => f.startsWith('functions/')).length >= 5, files.join(', '));
});

test('every func.yaml passes func’s schema and is at its latest specVersion', async (t) => {
  for (const file of await funcYamls()) {
    const doc = parse(await readFile(join(root, file), 'utf8')) as Record<string, unknown>;
    // func reads `created` as a time; YAML gives a Date for an unquoted timestamp. The schema
    // checks the string form, as func writes it.
    const asWritten = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
    const ok = validate(asWritten);
    t.true(ok, `${file}: ${ajv.errorsText(validate.errors)}`);
    t.is(doc.specVersion, LATEST_SPEC_VERSION, file);
    t.regex(String(asWritten.created ?? ''), /^\d{4}-\d\d-\d\dT/, `${file}: created`);
  }
});

test('func’s rules refuse what func refuses: no created, an unknown field, a builder or label out of bounds', (t) => {
  const good = { specVersion: LATEST_SPEC_VERSION, created: '2026-01-01T00:00:00Z', name: 'fn' };
  t.true(validate(good), ajv.errorsText(validate.errors));
  const bad: [string, Record<string, unknown>][] = [
    ['no created', { specVersion: LATEST_SPEC_VERSION, name: 'fn' }],
    ['a created that is no time', { ...good, created: 'yesterday' }],
    ['an unknown top-level field', { ...good, runtimee: 'node' }],
    ['an unknown build field', { ...good, build: { builderr: 'pack' } }],
    ['a builder func does not have', { ...good, build: { builder: 'docker' } }],
    ['a deployer func does not have', { ...good, deploy: { deployer: 'helm' } }],
    ['a label without a key', { ...good, deploy: { labels: [{ value: 'x' }] } }],
    ['a label value with a space', { ...good, deploy: { labels: [{ key: 'a', value: 'b c' }] } }],
    ['a name with capitals', { ...good, name: 'Fn' }],
  ];
  for (const [why, doc] of bad) t.false(validate(doc), why);
});

interface PackageJson {
  scripts?: Record<string, string>;
}

test('each func.yaml’s BP_NODE_RUN_SCRIPTS names scripts its package.json has', async (t) => {
  for (const file of await funcYamls()) {
    const dir = dirname(join(root, file));
    const doc = parse(await readFile(join(root, file), 'utf8')) as {
      build?: { builder?: string; buildEnvs?: { name: string; value?: string }[] };
    };
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as PackageJson;
    const scripts = (doc.build?.buildEnvs ?? []).find((e) => e.name === 'BP_NODE_RUN_SCRIPTS')?.value;
    // Cairn's own functions start from a bundle that a build makes; the chat-notifier runs its
    // TypeScript as it is.
    if (file === 'func.yaml' || file.startsWith('functions/'))
      t.truthy(scripts, `${file}: BP_NODE_RUN_SCRIPTS`);
    for (const s of scripts ? scripts.split(',') : [])
      t.truthy(pkg.scripts?.[s.trim()], `${file}: script ${s}`);
  }
});

test('a per-function build without the bundle stops with what to run; with it, it passes', async (t) => {
  const src = join(root, 'functions', 'job-watcher');
  const dir = await mkdtemp(join(tmpdir(), 'cairn-fn-build-'));
  await cp(join(src, 'package.json'), join(dir, 'package.json'));
  const missing = await run('npm', ['run', '--silent', 'build'], { cwd: dir }).catch(
    (e: { code: number; stderr: string }) => e,
  );
  t.not((missing as { code?: number }).code ?? 0, 0);
  t.regex((missing as { stderr: string }).stderr, /npm run build:functions/);
  await mkdir(join(dir, 'dist'));
  await writeFile(join(dir, 'dist', 'index.js'), 'export {}\n');
  const ok = await run('npm', ['run', '--silent', 'build'], { cwd: dir });
  t.is(ok.stderr, '');
  t.true(existsSync(join(dir, 'dist', 'index.js')));
});
