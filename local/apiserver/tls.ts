/**
 * The emulator's TLS: a certificate authority of its own and a serving certificate for
 * localhost, 127.0.0.1 and ::1 signed by it (ECDSA P-256, @peculiar/x509 over Node's WebCrypto).
 * TLS is not decoration here: kubectl (client-go's clientcmd) sends a kubeconfig's token only to
 * an https server, so a token-protected emulator must speak https. The kubeconfig carries the CA,
 * so clients verify the server instead of skipping verification.
 *
 * With a state folder the three PEM files live in `<stateDir>/tls/` (the key 0600), so a
 * kubeconfig written before a restart keeps verifying; the CA's own key is dropped once it has
 * signed (nothing else is ever issued).
 */
import { webcrypto } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @peculiar/x509 2.x resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

export interface ServingTls {
  /** PEM of the CA that signed the serving certificate (what clients trust). */
  ca: string;
  cert: string;
  key: string;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const YEAR_MS = 365 * 24 * 3600 * 1000;

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64.replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

async function generate(now: Date): Promise<ServingTls> {
  // Node's WebCrypto is the standard one; the library's type names the DOM's.
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const notBefore = new Date(now.getTime() - 3600 * 1000);
  const notAfter = new Date(now.getTime() + 10 * YEAR_MS);
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=cairn-local-ca',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=cairn-local-apiserver',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    ca: ca.toString('pem'),
    cert: cert.toString('pem'),
    key: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

const FILES = { ca: 'ca.crt', cert: 'server.crt', key: 'server.key' } as const;

/** The serving TLS of a state folder (made on first use), or a fresh one without a folder. */
export async function loadOrCreateTls(stateDir: string | undefined, now = new Date()): Promise<ServingTls> {
  if (!stateDir) return generate(now);
  const dir = join(stateDir, 'tls');
  try {
    const tls = {
      ca: readFileSync(join(dir, FILES.ca), 'utf8'),
      cert: readFileSync(join(dir, FILES.cert), 'utf8'),
      key: readFileSync(join(dir, FILES.key), 'utf8'),
    };
    if (new x509.X509Certificate(tls.cert).notAfter > now) return tls;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const tls = await generate(now);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const k of ['ca', 'cert', 'key'] as const) {
    writeFileSync(join(dir, FILES[k]), tls[k], { mode: 0o600 });
    chmodSync(join(dir, FILES[k]), 0o600);
  }
  return tls;
}
