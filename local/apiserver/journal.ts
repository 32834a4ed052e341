/**
 * Durable state: an append-only JSON-lines journal, fsynced before a write is acknowledged.
 * Writes that arrive together share one write+fdatasync (group commit). On open the journal is
 * replayed (a torn last line from a crash is dropped) and compacted into a fresh file that holds
 * one line per live object; it is compacted again online when it has grown well past its live size.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../shared/log.ts';

/** One journal line: a put (`o` is the object) or a delete, or the high-water resourceVersion. */
export type JournalRecord =
  | { rv: number; s: string; k: string; o: unknown }
  | { rv: number; s: string; k: string; d: 1 }
  | { meta: { rv: number } };

export interface Snapshot {
  rv: number;
  /** One line (without newline) per live object, as `putLine` makes them. */
  lines: () => Iterable<string>;
}

export function putLine(rv: number, storage: string, key: string, json: string): string {
  return `{"rv":${rv},"s":${JSON.stringify(storage)},"k":${JSON.stringify(key)},"o":${json}}`;
}
export function deleteLine(rv: number, storage: string, key: string): string {
  return `{"rv":${rv},"s":${JSON.stringify(storage)},"k":${JSON.stringify(key)},"d":1}`;
}

const fileName = 'journal.jsonl';
/** No journal line comes near this: a request body is at most 3 MiB. */
const MAX_LINE = 64 * 1024 * 1024;

interface Pending {
  line: string;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class Journal {
  #fh: FileHandle;
  readonly #dir: string;
  readonly #snapshot: () => Snapshot;
  readonly #log: Logger;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #bytesSinceCompaction = 0;
  #liveBytes = 0;
  #closed = false;

  private constructor(fh: FileHandle, dir: string, snapshot: () => Snapshot, log: Logger, liveBytes: number) {
    this.#fh = fh;
    this.#dir = dir;
    this.#snapshot = snapshot;
    this.#log = log;
    this.#liveBytes = liveBytes;
  }

  /**
   * Reads what the directory holds, as a stream of lines: the file may be larger than any string
   * (a crash can leave a long zero-filled tail). Only the last line may be torn; a longer line
   * than any journal writes (MAX_LINE) counts as torn. Call `open` afterwards with a snapshot of
   * the loaded state.
   */
  static async read(dir: string): Promise<JournalRecord[]> {
    // Private: the journal holds every Secret. A folder made by an older version is tightened.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const file = join(dir, fileName);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: JournalRecord[] = [];
    let lineNo = 0;
    // A line that did not parse: fine if it turns out to be the last one, corruption otherwise.
    let torn: { line: number; cause: unknown } | undefined;
    const take = (line: Buffer | undefined) => {
      lineNo++;
      if (line !== undefined && line.length === 0) return;
      if (torn) throw new Error(`journal ${file} line ${torn.line} is corrupt`, { cause: torn.cause });
      if (line === undefined) {
        torn = { line: lineNo, cause: new Error(`longer than ${MAX_LINE} bytes`) };
        return;
      }
      try {
        out.push(JSON.parse(line.toString('utf8')) as JournalRecord);
      } catch (e) {
        torn = { line: lineNo, cause: e };
      }
    };
    // Lines split by hand: readline would hold an over-long line whole, and no line splitter on
    // npm reports where it dropped one.
    let parts: Buffer[] = [];
    let partLen = 0;
    let overlong = false;
    try {
      for await (const chunk of fh.createReadStream({
        highWaterMark: 1 << 20,
        autoClose: false,
      }) as AsyncIterable<Buffer>) {
        let start = 0;
        for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
          if (!overlong) parts.push(chunk.subarray(start, nl));
          take(overlong ? undefined : Buffer.concat(parts));
          parts = [];
          partLen = 0;
          overlong = false;
          start = nl + 1;
        }
        if (!overlong && start < chunk.length) {
          parts.push(chunk.subarray(start));
          partLen += chunk.length - start;
          if (partLen > MAX_LINE) {
            overlong = true;
            parts = [];
          }
        }
      }
      if (overlong) take(undefined);
      else if (partLen > 0) take(Buffer.concat(parts));
    } finally {
      await fh.close();
    }
    return out;
  }

  /** Writes the compacted state and opens the journal for appending. */
  static async open(dir: string, snapshot: () => Snapshot, log: Logger): Promise<Journal> {
    const size = await writeSnapshot(dir, snapshot());
    const fh = await open(join(dir, fileName), 'a', 0o600);
    return new Journal(fh, dir, snapshot, log, size);
  }

  /** Resolves once the line is on disk. */
  append(line: string): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('journal is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ line, resolve, reject });
      this.#flushing ??= this.#flush().finally(() => {
        this.#flushing = undefined;
      });
    });
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0);
      try {
        const text = `${batch.map((p) => p.line).join('\n')}\n`;
        await this.#fh.write(text);
        await this.#fh.datasync();
        this.#bytesSinceCompaction += Buffer.byteLength(text);
        for (const p of batch) p.resolve();
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
      if (this.#bytesSinceCompaction > 64 * 1024 * 1024 && this.#bytesSinceCompaction > 2 * this.#liveBytes) {
        await this.#compact();
      }
    }
  }

  /**
   * Rewrites the file from the in-memory state. Lines still queued describe changes the snapshot
   * already holds; replaying them again is harmless (puts and deletes are idempotent).
   */
  async #compact(): Promise<void> {
    try {
      await this.#fh.close();
      this.#liveBytes = await writeSnapshot(this.#dir, this.#snapshot());
      this.#fh = await open(join(this.#dir, fileName), 'a', 0o600);
      this.#bytesSinceCompaction = 0;
    } catch (e) {
      this.#log.error('journal compaction failed', { error: e });
      this.#fh = await open(join(this.#dir, fileName), 'a', 0o600);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.#fh.close();
  }
}

async function writeSnapshot(dir: string, snap: Snapshot): Promise<number> {
  const tmp = join(dir, `${fileName}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  let size = 0;
  try {
    let chunk = `${JSON.stringify({ meta: { rv: snap.rv } })}\n`;
    for (const line of snap.lines()) {
      chunk += `${line}\n`;
      if (chunk.length > 1 << 20) {
        await fh.write(chunk);
        size += Buffer.byteLength(chunk);
        chunk = '';
      }
    }
    await fh.write(chunk);
    size += Buffer.byteLength(chunk);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, fileName));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
  return size;
}
