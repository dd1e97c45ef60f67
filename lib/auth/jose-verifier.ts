import { createHash, type KeyObject } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose'
import type { Clock } from '../core/clock.js'
import type { RepoName } from '../core/domain.js'
import { Lru } from '../core/lru.js'
import { grantsPull } from './access.js'
import type { KeySet } from './keys.js'
import { InsufficientScopeError, InvalidTokenError, type TokenVerifier, type VerifiedToken } from './verifier.js'
import { keyFromX5c } from './x5c.js'

/** Asymmetric algorithms only: never `none`, never an HMAC keyed with a public key. */
export const TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
const LEEWAY_S = 60

export interface JoseVerifierOptions {
  readonly keys: KeySet
  readonly issuer: string
  /** The registry's `service`: the token's `aud` (a string, or an array holding it). */
  readonly audience: string
  readonly clock: Clock
  /** Verified tokens remembered at once. */
  readonly cacheMax?: number
}

interface Entry {
  readonly claims: Promise<JWTPayload>
  /** Set once verified: the token's `exp` in ms. */
  expiresAt?: number
}

/**
 * The TokenVerifier on jose. A token's signature and claims are checked once
 * and remembered by the token's sha256 until its `exp`, in a bounded LRU;
 * concurrent calls with one token share one check. Only the `access` grant is
 * checked per call. `reload` swaps the trusted keys and forgets every result.
 */
export class JoseTokenVerifier implements TokenVerifier {
  private keys: KeySet
  private readonly cache: Lru<string, Entry>
  private checks = 0

  constructor(private readonly opts: JoseVerifierOptions) {
    this.keys = opts.keys
    this.cache = new Lru(opts.cacheMax ?? 10_000)
  }

  /** Signature verifications run so far: what the cache saves shows here. */
  get signatureChecks(): number {
    return this.checks
  }

  reload(keys: KeySet): void {
    this.keys = keys
    this.cache.clear()
  }

  async verify(token: string, repo: RepoName): Promise<VerifiedToken> {
    const claims = await this.claimsOf(token)
    if (!grantsPull(claims.access, repo.toString())) throw new InsufficientScopeError(`the token does not grant pull on repository:${repo}`)
    return { subject: typeof claims.sub === 'string' ? claims.sub : '', expiresAt: (claims.exp ?? 0) * 1000 }
  }

  private claimsOf(token: string): Promise<JWTPayload> {
    const id = createHash('sha256').update(token).digest('base64url')
    const hit = this.cache.get(id)
    if (hit && (hit.expiresAt === undefined || this.opts.clock.now() < hit.expiresAt)) return hit.claims
    const entry: Entry = {
      claims: this.check(token).then(
        (claims) => {
          entry.expiresAt = (claims.exp ?? 0) * 1000
          return claims
        },
        (err: unknown) => {
          if (this.cache.get(id) === entry) this.cache.delete(id)
          throw err
        },
      ),
    }
    this.cache.set(id, entry)
    return entry.claims
  }

  private async check(token: string): Promise<JWTPayload> {
    let header: ProtectedHeaderParameters
    try {
      header = decodeProtectedHeader(token)
    } catch {
      throw new InvalidTokenError('not a signed JWT')
    }
    if (typeof header.alg !== 'string' || !TOKEN_ALGORITHMS.includes(header.alg)) {
      throw new InvalidTokenError(`algorithm ${JSON.stringify(header.alg)} is not accepted`)
    }
    const now = new Date(this.opts.clock.now())
    const key = this.keyFor(header, now)
    this.checks++
    try {
      const { payload } = await jwtVerify(token, key, {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        algorithms: TOKEN_ALGORITHMS,
        clockTolerance: LEEWAY_S,
        requiredClaims: ['exp'],
        currentDate: now,
      })
      return payload
    } catch (err) {
      throw new InvalidTokenError((err as Error).message)
    }
  }

  /** x5c first (a chain up to a configured root), else kid (libtrust KeyID, RFC 7638 thumbprint or JWKS kid). */
  private keyFor(header: ProtectedHeaderParameters, now: Date): KeyObject {
    if (header.x5c !== undefined) {
      try {
        return keyFromX5c(header.x5c, this.keys.roots, now)
      } catch (err) {
        throw new InvalidTokenError((err as Error).message)
      }
    }
    if (typeof header.kid !== 'string') throw new InvalidTokenError('the token names no signing key (no kid or x5c)')
    const key = this.keys.keyFor(header.kid)
    if (!key) throw new InvalidTokenError(`unknown signing key ${JSON.stringify(header.kid.slice(0, 100))}`)
    return key
  }
}
