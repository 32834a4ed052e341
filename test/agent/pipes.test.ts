/**
 * Of tools joined by a pipe, which failure is the cause (agent/tools.ts stopJoined): the
 * reader that went away, never the writer that then failed writing to it, whatever words the
 * writer's tool uses for that. Real processes joined the way the agent joins them.
 */
import test from 'ava';
import { startTool, stopJoined } from '../../agent/tools.ts';

/** What each tool the agent runs upstream says when its output is gone. */
const WRITE_ERRORS = [
  'pg_dump: error: could not write to output file: Connection reset by peer',
  'mariadb-dump: Got errno 32 on write',
  'mariadb-dump: Got errno 104 on write',
  'tar: -: Cannot write: Broken pipe',
  'zstd: error 70 : Write error : cannot write block : Broken pipe',
];

for (const said of WRITE_ERRORS) {
  test(`a writer that says "${said}" is not the cause; the reader's own failure is`, async (t) => {
    // The writer fills the pipe until it breaks, then says so and fails at once.
    const writer = startTool(
      { cmd: 'sh', args: ['-c', `cat /dev/zero 2>/dev/null; echo '${said}' >&2; exit 2`] },
      (m) => new Error(`writer: ${m}`),
    );
    // The reader stops reading, then takes a moment to fail by itself.
    const reader = startTool(
      {
        cmd: 'sh',
        args: [
          '-c',
          "head -c 100000 >/dev/null; exec 0<&-; sleep 0.3; echo 'zstd: out of memory' >&2; exit 1",
        ],
        stdin: writer.child.stdout,
      },
      (m) => new Error(`reader: ${m}`),
    );
    // The writer's failure comes first, as the agent's Promise.all sees it.
    const first = await Promise.race([writer.done, reader.done]).catch((e: unknown) => e);
    t.regex(String(first), /^Error: writer: /);
    const cause = await stopJoined([writer, reader]);
    t.regex(String(cause), /reader: sh exited with code 1: zstd: out of memory/);
  });
}

test('a writer that fails by itself, not writing, is the cause', async (t) => {
  const writer = startTool(
    { cmd: 'sh', args: ['-c', "head -c 1000 /dev/zero; echo 'pg_dump: error: query failed' >&2; exit 1"] },
    (m) => new Error(`writer: ${m}`),
  );
  const reader = startTool(
    { cmd: 'sh', args: ['-c', 'cat >/dev/null; exit 3'], stdin: writer.child.stdout },
    (m) => new Error(`reader: ${m}`),
  );
  await Promise.allSettled([writer.done, reader.done]);
  const cause = await stopJoined([writer, reader]);
  t.regex(String(cause), /writer: sh exited with code 1: pg_dump: error: query failed/);
});
