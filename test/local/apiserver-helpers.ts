/** Helpers shared by the API emulator's tests: an in-process server, kubectl, raw HTTP. */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer, type ApiServerOptions, startApiServer } from '../../local/apiserver/index.ts';
import { apiFetch } from '../fixtures/api.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are untyped; tests read into them freely.
export type JsonAny = any;

export interface Emulator {
  server: ApiServer;
  dir: string;
  kubeconfig: string;
  kubectl: (args: string[], input?: string) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** A JSON request; the parsed body (or text) and the status. */
  call: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: JsonAny; headers: Headers }>;
  close: () => Promise<void>;
}

/** Fails (not skips) when kubectl is missing: the suite exists to drive the real one. */
export function kubectlPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'kubectl is not on PATH; the API emulator suite drives the real kubectl (1.32 at /usr/bin/kubectl)',
    );
  }
}

export async function startEmulator(opts: ApiServerOptions = {}): Promise<Emulator> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-apiserver-'));
  const server = await startApiServer(opts);
  const kubeconfig = join(dir, 'kubeconfig');
  server.writeKubeconfig(kubeconfig);
  const bin = kubectlPath();
  const kubectl = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        bin,
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
        { encoding: 'utf8', timeout: 30_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
      else child.stdin?.end();
    });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await apiFetch(server, path, {
      method,
      headers: { 'Content-Type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (plain text answers)
    }
    return { status: res.status, body: parsed as JsonAny, headers: res.headers };
  };
  return {
    server,
    dir,
    kubeconfig,
    kubectl,
    call,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const fixtures = new URL('./fixtures/', import.meta.url).pathname;
