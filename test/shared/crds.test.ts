import { readdir, readFile } from 'node:fs/promises';
import test from 'ava';
import { parse } from 'yaml';
import { GROUP, KINDS } from '../../shared/api/index.ts';
import { renderCrdFiles } from '../../shared/api/render.ts';

const crdsDir = new URL('../../crds/', import.meta.url);

test('the committed CRDs are exactly what the schemas generate', async (t) => {
  const rendered = renderCrdFiles();
  t.deepEqual(
    (await readdir(crdsDir)).filter((f) => f.endsWith('.yaml')).sort(),
    rendered.map((r) => r.file).sort(),
  );
  for (const { file, text } of rendered) {
    t.is(await readFile(new URL(file, crdsDir), 'utf8'), text, `crds/${file} is stale: run npm run gen:crds`);
  }
});

type Json = Record<string, unknown>;
function walk(node: unknown, path: string, visit: (n: Json, path: string) => void): void {
  if (Array.isArray(node)) {
    for (const [i, n] of node.entries()) walk(n, `${path}[${i}]`, visit);
  } else if (node && typeof node === 'object') {
    visit(node as Json, path);
    for (const [k, v] of Object.entries(node)) walk(v, `${path}.${k}`, visit);
  }
}

test('the CRD schemas are structural: no unions, refs, uniqueItems or closed objects', (t) => {
  for (const { file, text } of renderCrdFiles()) {
    const schema = (parse(text) as { spec: { versions: { schema: { openAPIV3Schema: Json } }[] } }).spec
      .versions[0]?.schema.openAPIV3Schema;
    walk(schema, file, (n, path) => {
      for (const k of ['anyOf', 'oneOf', 'allOf', '$ref', 'uniqueItems', 'patternProperties', 'const']) {
        t.false(k in n, `${path} has ${k}`);
      }
      if ('properties' in n)
        t.false('additionalProperties' in n, `${path} has properties and additionalProperties`);
      if (
        n.type === 'object' &&
        !('properties' in n) &&
        !('additionalProperties' in n) &&
        !path.endsWith('.metadata')
      ) {
        t.fail(`${path} is an object without properties`);
      }
    });
  }
});

test('each CRD has the status subresource, short names, categories and printer columns', (t) => {
  for (const def of KINDS) {
    const file = renderCrdFiles().find((f) => f.file === `${def.plural}.${GROUP}.yaml`);
    const crd = parse(file?.text ?? '') as {
      spec: { names: Json; versions: { subresources: Json; additionalPrinterColumns: { name: string }[] }[] };
    };
    const v = crd.spec.versions[0];
    t.deepEqual(v?.subresources, { status: {} });
    t.true((crd.spec.names.shortNames as string[]).length > 0);
    t.true((crd.spec.names.categories as string[]).includes('cairn'));
    t.true((v?.additionalPrinterColumns.length ?? 0) >= 3);
    t.true(v?.additionalPrinterColumns.some((c) => c.name === 'Age'));
  }
});
