import { createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto';

// RSA keys as Alipay and WeChat Pay hand them out: PEM, or Alipay's bare base64 of the DER.

function wrap(key: string, label: string): string {
  const trimmed = key.trim();
  if (trimmed.startsWith('-----BEGIN')) return trimmed;
  const body = trimmed.replace(/\s+/g, '').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
}

export const publicKeyOf = (key: string): KeyObject => createPublicKey(wrap(key, 'PUBLIC KEY'));
export const privateKeyPem = (key: string): string => wrap(key, 'PRIVATE KEY');

/** SHA256withRSA (PKCS#1 v1.5), base64: the signature both providers use. */
export function rsaSign(privateKey: string, message: string): string {
  return createSign('RSA-SHA256').update(message, 'utf8').sign(privateKeyPem(privateKey), 'base64');
}

export function rsaVerify(publicKey: KeyObject, message: string | Buffer, signature: string): boolean {
  try {
    return createVerify('RSA-SHA256').update(message).verify(publicKey, signature, 'base64');
  } catch {
    return false;
  }
}

/** Yuan as Alipay writes it ("12.34") to fen; null when it is not such an amount. */
export function yuanToFen(text: string): number | null {
  const match = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}

export const fenToYuan = (fen: number): string => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
