/**
 * The keys that protect artifacts in the store, each a key of a Secret in the resource's own
 * namespace (the store never sees them, nor do the functions: they reach the agent pod as
 * secretKeyRefs):
 *
 * - `encryption`: age encryption at rest. Backups encrypt to `recipientSecretRef` (an age
 *   recipient, `age1…`, a public key) and restores and verifications decrypt with
 *   `identitySecretRef` (`AGE-SECRET-KEY-1…`); or `passphraseSecretRef` for both.
 * - `signing`: an HMAC-SHA256 key that signs each manifest, so a restore without the Backup object
 *   (whose status.sha256 is the usual authority) can still tell a genuine artifact from a forged one.
 */
import { type Static, Type } from '@sinclair/typebox';
import { type CelRule, ObjectName } from './schema.ts';

const KeyRef = (defaultKey: string, description: string) =>
  Type.Object(
    {
      name: ObjectName('Name of a Secret in the same namespace as this resource.'),
      key: Type.String({ default: defaultKey, minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' }),
    },
    { additionalProperties: false, description },
  );

const recipientSecretRef = KeyRef(
  'recipient',
  'age recipient (age1…, the public key) that backups are encrypted to. Backups need only this.',
);
const identitySecretRef = KeyRef(
  'identity',
  'age identity (AGE-SECRET-KEY-1…) that restores and verifications decrypt with.',
);
const passphraseSecretRef = KeyRef(
  'passphrase',
  'age passphrase (scrypt) that encrypts and decrypts, instead of a recipient and an identity.',
);

const ENCRYPTION_RULES: CelRule[] = [
  {
    rule: 'has(self.recipientSecretRef) != has(self.passphraseSecretRef)',
    message: 'set exactly one of recipientSecretRef and passphraseSecretRef',
  },
  {
    rule: '!has(self.identitySecretRef) || has(self.recipientSecretRef)',
    message: 'identitySecretRef goes with recipientSecretRef (a passphrase decrypts by itself)',
    fieldPath: '.identitySecretRef',
    reason: 'FieldValueForbidden',
  },
];

/** `spec.encryption` of DatabaseBackup and BackupPolicy. */
export const Encryption = Type.Object(
  {
    recipientSecretRef: Type.Optional(recipientSecretRef),
    identitySecretRef: Type.Optional(identitySecretRef),
    passphraseSecretRef: Type.Optional(passphraseSecretRef),
  },
  {
    additionalProperties: false,
    description:
      'Encrypt each artifact in the age format before it leaves the pod (decrypt with the age tool: age -d -i key.txt). The manifest names the recipient, never a key.',
    'x-kubernetes-validations': ENCRYPTION_RULES,
  },
);
export type Encryption = Static<typeof Encryption>;

/** `spec.encryption` of a Restore: how to decrypt, when the policy's Secret is gone or not the one to use. */
export const RestoreDecryption = Type.Object(
  {
    identitySecretRef: Type.Optional(identitySecretRef),
    passphraseSecretRef: Type.Optional(passphraseSecretRef),
  },
  {
    additionalProperties: false,
    description: "The key to decrypt an encrypted backup with; default: the policy's spec.encryption.",
    'x-kubernetes-validations': [
      {
        rule: 'has(self.identitySecretRef) != has(self.passphraseSecretRef)',
        message: 'set exactly one of identitySecretRef and passphraseSecretRef',
      },
    ] satisfies CelRule[],
  },
);
export type RestoreDecryption = Static<typeof RestoreDecryption>;

/** `spec.signing` of DatabaseBackup, BackupPolicy and Restore. */
export const Signing = Type.Object(
  {
    keySecretRef: KeyRef(
      'signing-key',
      'HMAC-SHA256 key, at least 32 bytes (openssl rand -base64 32), that signs each manifest at backup and authenticates it at restore.',
    ),
  },
  {
    additionalProperties: false,
    description:
      'Sign manifests with a key the store never sees, so a restore without the Backup object can tell a genuine artifact from one a bucket writer forged.',
  },
);
export type Signing = Static<typeof Signing>;
