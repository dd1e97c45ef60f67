import type { RepoName } from '../core/domain.js'

/** What a verified token says about its holder. */
export interface VerifiedToken {
  /** `sub`: the user the registry's token service issued it to ("" when anonymous). */
  readonly subject: string
  /** `exp`, in ms since the epoch. */
  readonly expiresAt: number
}

/** The token itself is bad: malformed, signed by an unknown key or algorithm, expired, not yet valid, or for another issuer or audience. */
export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidTokenError'
  }
}

/** The token is good but does not grant pull on the repository asked for. */
export class InsufficientScopeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InsufficientScopeError'
  }
}

/**
 * Checks a registry bearer token (distribution's token auth, as Harbor issues
 * it) for pull access to one repository.
 *
 * `verify` resolves when the token is signed by a trusted key with an allowed
 * asymmetric algorithm, names the configured issuer and audience, is within
 * `nbf`/`exp` (60 s leeway; `exp` required), and its `access` claim grants
 * `pull` or `*` on `repository:<repo>`. It rejects with InvalidTokenError when
 * the token is bad, and with InsufficientScopeError when it is good but lacks
 * that grant; any other rejection is a bug.
 *
 * Safe for any number of concurrent calls. Implementations may cache a
 * token's verification until it expires.
 */
export interface TokenVerifier {
  verify(token: string, repo: RepoName): Promise<VerifiedToken>
}
