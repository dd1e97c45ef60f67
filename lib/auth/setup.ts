import type { Clock } from '../core/clock.js'
import { PullGuard, type CheckResult } from './guard.js'
import { JoseTokenVerifier } from './jose-verifier.js'
import { readKeySet } from './keys.js'

export interface TokenAuthSettings {
  readonly realm?: string
  readonly issuer?: string
  readonly service?: string
  readonly rootCerts?: string
  readonly jwks?: string
}

export interface TokenAuth {
  readonly verifier: JoseTokenVerifier
  readonly guard: PullGuard
}

/** The verifier and the guard for the configured token auth, or undefined when it is off (config validated all or none). */
export function tokenAuth(s: TokenAuthSettings, clock: Clock, onCheck?: (result: CheckResult) => void): TokenAuth | undefined {
  if (s.realm === undefined || s.issuer === undefined || s.service === undefined) return undefined
  const verifier = new JoseTokenVerifier({ keys: readKeySet({ rootCerts: s.rootCerts, jwks: s.jwks }), issuer: s.issuer, audience: s.service, clock })
  return { verifier, guard: new PullGuard(verifier, { realm: s.realm, service: s.service }, onCheck) }
}

/** The config's auth fields as settings. */
export function authSettingsOf(c: { authRealm?: string; authIssuer?: string; authService?: string; authRootCerts?: string; authJwks?: string }): TokenAuthSettings {
  return { realm: c.authRealm, issuer: c.authIssuer, service: c.authService, rootCerts: c.authRootCerts, jwks: c.authJwks }
}
