import { createHash, type KeyObject } from 'node:crypto'

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32 without padding. */
function base32(buf: Buffer): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of buf) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

/**
 * libtrust's KeyID: sha256 of the SPKI DER, first 240 bits, base32, in 12
 * groups of 4 joined by ':'. Harbor and distribution 2.8 name keys this way.
 */
export function libtrustKeyId(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' })
  const b32 = base32(createHash('sha256').update(der).digest().subarray(0, 30))
  return b32.match(/.{4}/g)!.join(':')
}

const b64u = (b: Buffer) => b.toString('base64url')

function stripLeadingZeros(coord: string): string {
  const b = Buffer.from(coord, 'base64url')
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  return b64u(b.subarray(i))
}

const thumbprint = (members: string) => b64u(createHash('sha256').update(members).digest())

/**
 * RFC 7638 thumbprints of a public key, as distribution v3 may name it in a
 * token's `kid`. For EC keys two can differ: the exact one (fixed-length
 * coordinates) and the one Go computes, which drops leading zero bytes of a
 * coordinate (`big.Int.Bytes()`), about one key in 128. Both are returned.
 */
export function jwkThumbprints(key: KeyObject): string[] {
  const jwk = key.export({ format: 'jwk' })
  switch (jwk.kty) {
    case 'RSA':
      return [thumbprint(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n }))]
    case 'EC': {
      const exact = thumbprint(JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y }))
      const goStyle = thumbprint(JSON.stringify({ crv: jwk.crv, kty: 'EC', x: stripLeadingZeros(jwk.x!), y: stripLeadingZeros(jwk.y!) }))
      return exact === goStyle ? [exact] : [exact, goStyle]
    }
    case 'OKP':
      return [thumbprint(JSON.stringify({ crv: jwk.crv, kty: 'OKP', x: jwk.x }))]
    default:
      return []
  }
}
