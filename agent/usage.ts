export const USAGE = `cairn-agent: stream a backup to object storage or a volume, or restore one, verified.

Usage:
  cairn-agent backup  --source KIND [source flags] --dest-type TYPE [destination flags]
                      --policy NAME --scheduled-time ISO [--compression zstd|gzip|none]
                      [--encryption age]
  cairn-agent restore --target KIND [target flags] --dest-type TYPE [destination flags]
                      --manifest-key KEY [--overwrite | --clean] [--no-owner]
                      (--expect-sha256 HEX | --allow-unauthenticated)

Sources (backup):
  --source postgres   --host H [--port P] [--user U] (--database D | --all-databases)
                      [--schema S]... [--format custom|plain]      pg_dump -Fc -Z0 / pg_dumpall
  --source mysql|mariadb --host H [--port P] [--user U] (--database D | --all-databases)
  --source tar        --volume DIR [--volume DIR]...               one folder: its contents;
                                                                    several: one subfolder each
  --source custom     [--extension EXT] -- COMMAND [ARG]...        COMMAND's stdout is the artifact
  --source snapshot   not supported by the agent: use tar or custom

Targets (restore):
  --target postgres|mysql|mariadb --host H [--port P] [--user U] [--database D]
  --target tar --target-dir DIR
  --target custom -- COMMAND [ARG]...                              the artifact on COMMAND's stdin

Destination:
  --dest-type s3|gcs|pvc  --dest-bucket B  --dest-path PREFIX  --dest-root DIR (pvc)
  --dest-endpoint URL  --dest-region R  --dest-force-path-style  --dest-checksums when-required|when-supported

Other:
  --backup-name NAME  --compression-level N  --progress-interval SECONDS (5)
  --termination-log FILE   (else $CAIRN_TERMINATION_LOG, else /dev/termination-log)

Trust (restore, verify): the artifact must hash to --expect-sha256 (the Backup's status.sha256)
and its manifest must name it; without it, the manifest must carry a valid signature made with
CAIRN_SIGNING_KEY; an artifact nothing vouches for is refused unless --allow-unauthenticated.
Nothing from the store reaches a database tool before its digest matched.

Credentials and keys come from the environment only: PGPASSWORD, MYSQL_PWD, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, GOOGLE_APPLICATION_CREDENTIALS, CAIRN_SIGNING_KEY
(signs manifests at backup, checks them at restore), CAIRN_AGE_RECIPIENT (backup) and
CAIRN_AGE_IDENTITY (restore), or CAIRN_AGE_PASSPHRASE (both). CAIRN_PG_BINDIR picks the
PostgreSQL client tools' folder. CAIRN_CPU_REQUEST (the Job's requests.cpu, from the downward
API): a PostgreSQL restore into a database it creates runs pg_restore with that many jobs.

Exit codes: 0 ok, 1 internal, 2 bad arguments/unsupported, 3 source or restore tool failed,
4 storage failed, 5 artifact failed verification (nothing restored), 6 restore target not empty.
`;
