/**
 * MariaDB round trip through the agent (mariadb-dump --single-transaction, MYSQL_PWD) to a PVC,
 * refusal of a non-empty target, and a corrupt artifact refused before anything is applied.
 * Needs Debian's mariadb-server and mariadb-client.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { type MariadbServer, startMariadb } from '../fixtures/mariadb.ts';
import { destArgs, runAgent } from './helpers.ts';

let db: MariadbServer;
let root: string;

test.before(async () => {
  db = await startMariadb();
  root = await mkdtemp(path.join(os.tmpdir(), 'cairn-mariadb-pvc-'));
  await db.createDatabase('shop');
  await db.query(
    `create table customers (id int primary key auto_increment, name varchar(100) not null, email varchar(200) unique);
     create table orders (id int primary key auto_increment, customer_id int not null, total decimal(10,2), note blob,
       foreign key (customer_id) references customers(id));
     insert into customers (name, email) select concat('customer ', seq), concat('c', seq, '@example.com') from seq_1_to_2000;
     insert into orders (customer_id, total, note) select 1 + seq % 2000, seq * 1.25, unhex(md5(seq)) from seq_1_to_20000;
     create view big_orders as select * from orders where total > 100;
     create procedure order_count() select count(*) from orders;`,
    'shop',
  );
});
test.after.always(async () => {
  await db?.stop();
});

const conn = () => ['--host', db.host, '--port', String(db.port), '--user', db.user];
const fingerprint = (name: string) =>
  db.query(
    `select count(*), md5(group_concat(concat_ws(',', id, name, email) order by id)) from customers;
     select count(*), md5(group_concat(concat_ws(',', id, customer_id, total, hex(note)) order by id)) from orders;
     select count(*) from big_orders;
     select count(*) from information_schema.routines where routine_schema = database();`,
    name,
  );

test.serial('a MariaDB database round-trips through a PVC and a non-empty target is refused', async (t) => {
  const b = await runAgent(
    [
      'backup',
      '--source',
      'mariadb',
      ...conn(),
      '--database',
      'shop',
      ...destArgs({ type: 'pvc', root, path: 'mariadb' }),
      '--policy',
      'shop-nightly',
      '--scheduled-time',
      '2025-03-27T01:00:00Z',
    ],
    { MYSQL_PWD: db.password },
  );
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  t.is(b.result.key, 'mariadb/shop-nightly/20250327T010000Z.sql.zst');
  const manifest = JSON.parse(await readFile(path.join(root, b.result.manifestKey), 'utf8'));
  t.like(manifest.source, { kind: 'mariadb', database: 'shop', tool: 'mariadb-dump' });
  t.regex(manifest.source.serverVersion, /MariaDB/);

  const r = await runAgent(
    [
      'restore',
      '--target',
      'mariadb',
      ...conn(),
      '--database',
      'shop_copy',
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      ...destArgs({ type: 'pvc', root }),
    ],
    { MYSQL_PWD: db.password },
  );
  t.is(r.code, 0, r.stderr);
  t.is(await fingerprint('shop_copy'), await fingerprint('shop'));

  const again = await runAgent(
    [
      'restore',
      '--target',
      'mariadb',
      ...conn(),
      '--database',
      'shop_copy',
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      ...destArgs({ type: 'pvc', root }),
    ],
    { MYSQL_PWD: db.password },
  );
  t.is(again.code, AGENT_EXIT.targetNotEmpty);

  // A corrupt artifact is refused before the first statement runs.
  const file = path.join(root, b.result.key);
  const bytes = await readFile(file);
  const mid = Math.floor(bytes.length / 2);
  bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
  await writeFile(file, bytes);
  await db.createDatabase('shop_victim');
  await db.query(
    'create table customers (id int primary key); insert into customers values (7);',
    'shop_victim',
  );
  const bad = await runAgent(
    [
      'restore',
      '--target',
      'mariadb',
      ...conn(),
      '--database',
      'shop_victim',
      '--overwrite',
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      ...destArgs({ type: 'pvc', root }),
    ],
    { MYSQL_PWD: db.password },
  );
  t.is(bad.code, AGENT_EXIT.verification, bad.stderr);
  t.is(
    (await db.query('select group_concat(id) from customers; show tables;', 'shop_victim')).trim(),
    '7\ncustomers',
  );
});
