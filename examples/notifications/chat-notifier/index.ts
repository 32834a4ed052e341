/**
 * chat-notifier: a Knative Function that turns Cairn's failure CloudEvents into a message for a
 * Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat and Discord's /slack endpoint
 * all take `{"text": …}`). The webhook URL comes from the env (a Secret), never from the event.
 *
 *   CHAT_WEBHOOK_URL   the incoming webhook (required)
 *   CHAT_PREFIX        text before each message, e.g. ":rotating_light: prod" (optional)
 *
 * A failed POST throws, so the Trigger's delivery retries it.
 */
import type { CloudEvent } from 'cloudevents';

interface CairnData {
  name?: string;
  namespace?: string;
  reason?: string;
  message?: string;
  policyRef?: { kind?: string; name?: string };
  restore?: string;
}

const TITLES: Record<string, string> = {
  'dev.cairn.backup.failed': 'Backup failed',
  'dev.cairn.backup.verification.failed': 'Restore verification failed',
  'dev.cairn.restore.failed': 'Restore failed',
};

/** The chat message for one Cairn event. */
export function chatMessage(type: string, data: CairnData, prefix = ''): { text: string } {
  const title = TITLES[type] ?? type;
  const where = `${data.namespace ?? '?'}/${data.name ?? '?'}`;
  const policy = data.policyRef?.name ? ` (${data.policyRef.kind ?? 'policy'} ${data.policyRef.name})` : '';
  const lines = [
    `${prefix ? `${prefix} ` : ''}*${title}*: \`${where}\`${policy}`,
    data.reason ? `reason: ${data.reason}` : '',
    data.message ? `> ${data.message.slice(0, 1500)}` : '',
    `\`kubectl describe -n ${data.namespace ?? 'default'} ${type === 'dev.cairn.restore.failed' ? 'restore' : 'backup'} ${data.name ?? ''}\``,
  ];
  return { text: lines.filter(Boolean).join('\n') };
}

export async function handle(
  _context: unknown,
  event?: CloudEvent<CairnData>,
): Promise<{ statusCode: number }> {
  if (!event) return { statusCode: 400 };
  const url = process.env.CHAT_WEBHOOK_URL;
  if (!url) throw new Error('CHAT_WEBHOOK_URL is not set');
  const body = chatMessage(event.type, event.data ?? {}, process.env.CHAT_PREFIX ?? '');
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`the chat webhook answered ${res.status}`);
  return { statusCode: 204 };
}
