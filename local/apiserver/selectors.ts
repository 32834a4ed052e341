/**
 * Label and field selectors, parsed as k8s.io/apimachinery/pkg/labels and /fields parse them.
 * Hand-written: the grammar is tiny and no npm package implements Kubernetes' dialect.
 */
import { statusErr } from './errors.ts';

export type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type LabelSelector = LabelRequirement[];

const keyRe =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valueRe = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, whole: string): string {
  if (!keyRe.test(key) || key.length > 316) {
    throw statusErr.badRequest(
      `unable to parse requirement: invalid label key "${key}" in selector "${whole}"`,
    );
  }
  return key;
}
function checkValue(v: string, whole: string): string {
  if (!valueRe.test(v) || v.length > 63) {
    throw statusErr.badRequest(
      `unable to parse requirement: invalid label value: "${v}" in selector "${whole}"`,
    );
  }
  return v;
}

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text) return [];
  const reqs: LabelSelector = [];
  for (const part of splitTop(text)) {
    let m = /^!\s*(\S+)$/.exec(part);
    if (m) {
      reqs.push({ key: checkKey(m[1]!, text), op: '!exists' });
      continue;
    }
    m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (m) {
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v, _i, all) => v !== '' || all.length === 1);
      reqs.push({
        key: checkKey(m[1]!, text),
        op: m[2] as 'in' | 'notin',
        values: values.map((v) => checkValue(v, text)),
      });
      continue;
    }
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (m) {
      const value = checkValue(m[3]!, text);
      reqs.push({ key: checkKey(m[1]!, text), op: m[2] === '!=' ? 'notin' : 'in', values: [value] });
      continue;
    }
    if (/^\S+$/.test(part)) {
      reqs.push({ key: checkKey(part, text), op: 'exists' });
      continue;
    }
    throw statusErr.badRequest(
      `unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`,
    );
  }
  return reqs;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of sel) {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case '!exists':
        if (has) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(labels[r.key]!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(labels[r.key]!)) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** `a=b,c!=d`; values may escape `\,` `\=` `\\` as fields.ParseSelector allows. */
export function parseFieldSelector(text: string | null | undefined): FieldRequirement[] {
  if (!text) return [];
  const reqs: FieldRequirement[] = [];
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      cur += ch + text[++i]!;
    } else if (ch === ',') {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const part of parts) {
    if (part.trim() === '') continue;
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw statusErr.badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    reqs.push({
      field: m[1]!.trim(),
      op: m[2] === '!=' ? '!=' : '=',
      value: m[3]!.replace(/\\(.)/g, '$1'),
    });
  }
  return reqs;
}

/** `get(field)` gives the object's value of a supported field label (undefined for unsupported). */
export function matchFields(reqs: FieldRequirement[], get: (field: string) => string | undefined): boolean {
  for (const r of reqs) {
    const v = get(r.field) ?? '';
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** Turns a metav1.LabelSelector (matchLabels/matchExpressions) into requirements. */
export function fromLabelSelectorObject(sel: {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}): LabelSelector {
  const reqs: LabelSelector = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {}))
    reqs.push({ key, op: 'in', values: [value] });
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator.toLowerCase();
    if (op === 'in' || op === 'notin') reqs.push({ key: e.key, op, values: e.values ?? [] });
    else if (op === 'exists') reqs.push({ key: e.key, op: 'exists' });
    else if (op === 'doesnotexist') reqs.push({ key: e.key, op: '!exists' });
  }
  return reqs;
}
