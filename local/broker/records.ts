/**
 * The broker's record of every event it received, one JSON file per event under
 * `<stateDir>/events/`, named `<received time>-<seq>-<type>-<id prefix>.json` so `ls` sorts them in
 * arrival order:
 *
 *   { "event": <the event, structured-mode JSON, as subscribers got it>,
 *     "broker": "<namespace>/<name>", "receivedAt": RFC 3339, "ttl": n,
 *     "deliveries": [{ trigger, subscriber, url, result, status, attempts, time, durationMs,
 *                      error?, reply?: {id, type}, deadLetter?: {url, status, error?} }] }
 *
 * `cairn replay <file>` resends `event` (shared/events.ts `eventFromStructured` reads both a record
 * and a bare structured event). The file is written when the event arrives (deliveries pending) and
 * rewritten when every delivery has ended.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type DeliveryOutcome = 'delivered' | 'failed' | 'unresolvable' | 'aborted';

export interface DeliveryRecord {
  trigger: string;
  subscriber: string;
  url: string | undefined;
  result: DeliveryOutcome;
  /** Last HTTP status; 0 when no answer arrived. */
  status: number;
  attempts: number;
  time: string;
  durationMs: number;
  error?: string;
  reply?: { id: string; type: string };
  deadLetter?: { url: string; status: number; error?: string };
}

export interface EventRecord {
  event: Record<string, unknown>;
  broker: string;
  receivedAt: string;
  ttl: number;
  /** `pending` until every matching Trigger's delivery ended. */
  state: 'pending' | 'done';
  deliveries: DeliveryRecord[];
}

export class EventRecorder {
  readonly dir: string;
  #seq = 0;
  #ready: Promise<unknown>;
  #writes = new Map<string, Promise<void>>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'events');
    this.#ready = mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** A new file name for an event received at `at`. */
  fileFor(at: Date, type: string, id: string): string {
    const stamp = at.toISOString().replace(/[-:]/g, '');
    const seq = String(++this.#seq).padStart(6, '0');
    const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
    return join(this.dir, `${stamp}-${seq}-${safe(type)}-${safe(id).slice(0, 12)}.json`);
  }

  /** Writes (atomically, in call order per file) the record. */
  write(file: string, rec: EventRecord): Promise<void> {
    const prev = this.#writes.get(file) ?? this.#ready;
    const next = prev
      .catch(() => {})
      .then(async () => {
        const tmp = `${file}.tmp`;
        await writeFile(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
        await rename(tmp, file);
      });
    this.#writes.set(file, next);
    // Cleanup only: the caller gets (and must handle) `next`'s own rejection.
    const forget = () => {
      if (this.#writes.get(file) === next) this.#writes.delete(file);
    };
    next.then(forget, forget);
    return next;
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.#writes.values()]);
  }
}

/** The records in a state folder, oldest first. */
export async function readRecords(stateDir: string): Promise<{ file: string; record: EventRecord }[]> {
  const dir = join(stateDir, 'events');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  const out: { file: string; record: EventRecord }[] = [];
  for (const n of names) {
    const file = join(dir, n);
    out.push({ file, record: JSON.parse(await readFile(file, 'utf8')) as EventRecord });
  }
  return out;
}
