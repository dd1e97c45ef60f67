import { X509Certificate, type KeyObject } from 'node:crypto'

const MAX_CHAIN = 5

function validAt(cert: X509Certificate, now: Date, what: string): void {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
    throw new Error(`${what} (${cert.subject.replace(/\n/g, ', ')}) is not valid now: ${cert.validFrom} to ${cert.validTo}`)
  }
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey)
}

/**
 * The signing key of a token's `x5c` header: standard base64 DER certificates,
 * leaf first. Every certificate must be valid at `now`, each signed by the
 * next (which must be a CA), and the last must be a configured root or be
 * signed by one. Throws with the reason otherwise.
 */
export function keyFromX5c(x5c: unknown, roots: readonly X509Certificate[], now: Date): KeyObject {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN) throw new Error(`x5c must list 1 to ${MAX_CHAIN} certificates`)
  const chain = x5c.map((c, i) => {
    if (typeof c !== 'string') throw new Error(`x5c[${i}] is not a string`)
    try {
      return new X509Certificate(Buffer.from(c, 'base64'))
    } catch {
      throw new Error(`x5c[${i}] is not a DER certificate`)
    }
  })
  chain.forEach((c, i) => validAt(c, now, `x5c[${i}]`))
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i + 1].ca) throw new Error(`x5c[${i + 1}] is not a CA certificate`)
    if (!issuedBy(chain[i], chain[i + 1])) throw new Error(`x5c[${i}] is not signed by x5c[${i + 1}]`)
  }
  const last = chain[chain.length - 1]
  const anchor = roots.find((r) => r.fingerprint256 === last.fingerprint256 || issuedBy(last, r))
  if (!anchor) throw new Error('the x5c chain does not end at a configured root certificate')
  validAt(anchor, now, 'the root certificate')
  return chain[0].publicKey
}
