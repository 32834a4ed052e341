/**
 * One delivery of a CloudEvent to a subscriber, as Knative's dispatcher does it: binary mode over
 * HTTP POST with `Prefer: reply`, retried per the DeliverySpec (Knative's SelectiveRetry: network
 * errors, 404, 408, 409, 429 and 5xx are retried; other answers are final), exponential or linear
 * backoff (`backoffDelay × 2^n` / `× n` for the n-th retry). A 2xx answer may carry a reply event
 * (binary or structured); a non-empty 2xx body that is not a CloudEvent is a failure (the broker
 * filter answers 502 for it, which the channel then retries).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type CloudEvent, HTTP } from 'cloudevents';
import type { DeliverySpec } from '../events/knative.ts';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retry: number;
  backoffPolicy: 'exponential' | 'linear';
  backoffDelayMs: number;
  /** Per attempt. */
  timeoutMs: number;
}

/** Locally: Knative's cluster default (config-br-defaults: exponential, PT0.2S) with 5 retries, not 10. */
export const DEFAULT_RETRY: RetryPolicy = {
  retry: 5,
  backoffPolicy: 'exponential',
  backoffDelayMs: 200,
  timeoutMs: 60_000,
};

export function retryPolicyOf(spec: DeliverySpec | undefined, base: RetryPolicy): RetryPolicy {
  if (!spec) return base;
  return {
    retry: spec.retry ?? base.retry,
    backoffPolicy: spec.backoffPolicy ?? base.backoffPolicy,
    backoffDelayMs: spec.backoffDelay ? parseDurationMs(spec.backoffDelay) : base.backoffDelayMs,
    timeoutMs: spec.timeout ? parseDurationMs(spec.timeout) : base.timeoutMs,
  };
}

const ISO_DURATION =
  /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** An ISO 8601 duration as Knative's delivery fields use it (PT0.2S, PT1M, P1D) in ms. */
export function parseDurationMs(iso: string): number {
  const m = ISO_DURATION.exec(iso);
  if (!m || iso === 'P' || iso.endsWith('T')) throw new Error(`not an ISO 8601 duration: ${iso}`);
  const [d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number];
  return Math.round((((d * 24 + h) * 60 + min) * 60 + s) * 1000);
}

export function backoffMs(policy: RetryPolicy, retryNumber: number): number {
  return policy.backoffPolicy === 'linear'
    ? policy.backoffDelayMs * retryNumber
    : policy.backoffDelayMs * 2 ** retryNumber;
}

/** Knative's SelectiveRetry. `0` stands for "no response" (connection refused, timeout). */
export function isRetryable(status: number): boolean {
  return (
    status === 0 || status >= 500 || status === 404 || status === 408 || status === 409 || status === 429
  );
}

export interface AttemptResult {
  /** HTTP status; 0 when no response arrived. */
  status: number;
  ok: boolean;
  error?: string;
  reply?: CloudEvent<unknown>;
}

export interface DeliveryResult extends AttemptResult {
  attempts: number;
  aborted: boolean;
}

/** POSTs the event once; never throws. */
export async function attempt(
  ev: CloudEvent<unknown>,
  url: string,
  opts: { timeoutMs: number; signal?: AbortSignal; headers?: Record<string, string> },
): Promise<AttemptResult> {
  const msg = HTTP.binary(ev);
  const headers = stringHeaders(msg.headers);
  const empty = msg.body === undefined || msg.body === null || msg.body === '';
  // An event without data goes without a body and without a content type, as the Go SDK sends it
  // (faas-js-runtime refuses an empty body labelled application/json). Nor does an event without
  // a datacontenttype get one: the SDK's binary() labels it application/json, the Go SDK (the
  // PingSource adapter, Knative's broker) sends no Content-Type then.
  if (empty || ev.datacontenttype === undefined) delete headers['content-type'];
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { ...headers, prefer: 'reply', ...opts.headers },
      // Bytes, not a string: fetch labels a string body text/plain when no content type is set.
      body: empty
        ? null
        : typeof msg.body === 'string'
          ? Buffer.from(msg.body)
          : (msg.body as Uint8Array<ArrayBuffer>),
      signal: AbortSignal.any(signals),
    });
  } catch (e) {
    return { status: 0, ok: false, error: describeFetchError(e) };
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    const text = body.toString('utf8').slice(0, 500);
    return { status: res.status, ok: false, error: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
  }
  if (body.length === 0 && !res.headers.has('ce-type')) return { status: res.status, ok: true };
  const replyHeaders = Object.fromEntries(res.headers);
  const message = {
    headers: replyHeaders,
    body: isTextual(replyHeaders['content-type']) ? body.toString('utf8') : body,
  };
  try {
    if (!HTTP.isEvent(message)) throw new Error('not a CloudEvent');
    const reply = HTTP.toEvent(message);
    if (Array.isArray(reply)) throw new Error('a batch of events');
    return { status: res.status, ok: true, reply: reply as CloudEvent<unknown> };
  } catch (e) {
    // The broker's filter answers 502 for a reply that is not a CloudEvent; the channel retries it.
    return {
      status: 502,
      ok: false,
      error: `HTTP ${res.status} with a non-empty reply that is not a valid CloudEvent (${e instanceof Error ? e.message : String(e)}): ${body.toString('utf8').slice(0, 200)}`,
    };
  }
}

/** Attempts with retries and backoff; stops early (aborted) when the signal fires. */
export async function deliver(
  ev: CloudEvent<unknown>,
  url: string,
  policy: RetryPolicy,
  signal: AbortSignal,
  onAttempt?: (n: number, r: AttemptResult) => void,
): Promise<DeliveryResult> {
  let attempts = 0;
  for (;;) {
    attempts++;
    const r = await attempt(ev, url, { timeoutMs: policy.timeoutMs, signal });
    onAttempt?.(attempts, r);
    if (r.ok || !isRetryable(r.status) || attempts > policy.retry || signal.aborted) {
      return { ...r, attempts, aborted: signal.aborted && !r.ok };
    }
    try {
      await sleep(backoffMs(policy, attempts), undefined, { signal });
    } catch {
      return { ...r, attempts, aborted: true };
    }
  }
}

function stringHeaders(h: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]));
}

export function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return true;
  const ct = contentType.toLowerCase();
  return ct.includes('json') || ct.startsWith('text/') || ct.includes('xml');
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    const code = cause && typeof cause === 'object' && 'code' in cause ? String(cause.code) : undefined;
    if (e.name === 'TimeoutError') return 'timed out';
    if (e.name === 'AbortError') return 'aborted';
    return code ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}
