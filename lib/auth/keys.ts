import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { jwkThumbprints, libtrustKeyId } from './kid.js'

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/** Every certificate of a PEM bundle, like distribution's `rootcertbundle`. Throws naming what is wrong. */
export function parsePemBundle(text: string): X509Certificate[] {
  const blocks = text.match(PEM_CERT) ?? []
  if (blocks.length === 0) throw new Error('holds no PEM CERTIFICATE block')
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b)
    } catch (err) {
      throw new Error(`certificate ${i + 1} is not a valid X.509 certificate: ${(err as Error).message}`)
    }
  })
}

export interface JwksKey {
  readonly kid: string | undefined
  readonly key: KeyObject
}

/** The public keys of a JWKS document (`{"keys":[…]}`). Symmetric keys are refused: tokens are signed asymmetrically. */
export function parseJwks(text: string): JwksKey[] {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new Error(`is not JSON: ${(err as Error).message}`)
  }
  const keys = (doc as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) throw new Error('must be a JSON object with a "keys" array')
  return keys.map((k: unknown, i) => {
    if (typeof k !== 'object' || k === null) throw new Error(`keys[${i}] is not an object`)
    const jwk = k as Record<string, unknown>
    if (jwk.kty === 'oct') throw new Error(`keys[${i}] is a symmetric key; only public keys are accepted`)
    if ('d' in jwk) throw new Error(`keys[${i}] holds a private key; give only the public part`)
    if (jwk.kid !== undefined && typeof jwk.kid !== 'string') throw new Error(`keys[${i}].kid must be a string`)
    try {
      return { kid: jwk.kid as string | undefined, key: createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }) }
    } catch (err) {
      throw new Error(`keys[${i}] is not a usable public key: ${(err as Error).message}`)
    }
  })
}

/**
 * The keys tokens may be signed with: root certificates (for x5c chains, and
 * their own keys by libtrust KeyID and RFC 7638 thumbprint) and JWKS keys (by
 * their kid). Immutable: a reload builds a new set.
 */
export class KeySet {
  private constructor(
    readonly roots: readonly X509Certificate[],
    private readonly byKid: ReadonlyMap<string, KeyObject>,
  ) {}

  static from(src: { rootCerts?: readonly X509Certificate[]; jwks?: readonly JwksKey[] }): KeySet {
    const byKid = new Map<string, KeyObject>()
    for (const cert of src.rootCerts ?? []) {
      for (const id of [libtrustKeyId(cert.publicKey), ...jwkThumbprints(cert.publicKey)]) byKid.set(id, cert.publicKey)
    }
    for (const { kid, key } of src.jwks ?? []) {
      for (const id of kid !== undefined ? [kid] : jwkThumbprints(key)) byKid.set(id, key)
    }
    return new KeySet([...(src.rootCerts ?? [])], byKid)
  }

  keyFor(kid: string): KeyObject | undefined {
    return this.byKid.get(kid)
  }

  /** Every name a key is known by; for diagnostics and tests. */
  kids(): string[] {
    return [...this.byKid.keys()]
  }
}

export interface KeyFiles {
  /** PEM bundle of root certificates (distribution's `rootcertbundle`, Harbor's `/etc/registry/root.crt`). */
  readonly rootCerts?: string
  readonly jwks?: string
}

/** Reads and parses the key files; an error's message names the file. */
export function readKeySet(files: KeyFiles): KeySet {
  const read = <T>(file: string, parse: (text: string) => T): T => {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as Error).message}`)
    }
    try {
      return parse(text)
    } catch (err) {
      throw new Error(`${file} ${(err as Error).message}`)
    }
  }
  return KeySet.from({
    rootCerts: files.rootCerts !== undefined ? read(files.rootCerts, parsePemBundle) : undefined,
    jwks: files.jwks !== undefined ? read(files.jwks, parseJwks) : undefined,
  })
}
