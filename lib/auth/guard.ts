import type { RepoName } from '../core/domain.js'
import { AppError } from '../core/errors.js'
import { bearerChallenge, type ChallengeParams } from '../http/challenge.js'
import { InsufficientScopeError, InvalidTokenError, type TokenVerifier } from './verifier.js'

/** The token of an `Authorization: Bearer …` header, or undefined for any other header. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  return m?.[1]
}

/** How a check ended: granted, no bearer token, a bad token, or a good one without pull. */
export type CheckResult = 'ok' | 'missing' | 'invalid' | 'denied'

/**
 * A door that needs pull rights on a repository. Refusals carry the registry's
 * own challenge, so a client that was refused knows where to get a token.
 */
export class PullGuard {
  constructor(
    readonly verifier: TokenVerifier,
    private readonly challenge: ChallengeParams,
    /** Told how each check ended, for metrics. */
    private readonly onCheck: (result: CheckResult) => void = () => undefined,
  ) {}

  /** Resolves when the request's bearer token grants pull on repo; throws UNAUTHORIZED or DENIED otherwise. */
  async check(authorization: string | undefined, repo: RepoName): Promise<void> {
    const token = bearerToken(authorization)
    if (token === undefined) {
      this.onCheck('missing')
      throw this.missing(repo)
    }
    try {
      await this.verifier.verify(token, repo)
      this.onCheck('ok')
    } catch (err) {
      if (err instanceof InsufficientScopeError) this.onCheck('denied')
      else if (err instanceof InvalidTokenError) this.onCheck('invalid')
      if (err instanceof InsufficientScopeError) {
        throw new AppError('DENIED', err.message, undefined, { 'www-authenticate': bearerChallenge(this.challenge, repo, 'insufficient_scope') })
      }
      if (err instanceof InvalidTokenError) {
        throw new AppError('UNAUTHORIZED', `invalid token: ${err.message}`, undefined, { 'www-authenticate': bearerChallenge(this.challenge, repo, 'invalid_token') })
      }
      throw err
    }
  }

  /** Whether a token grants pull on repo, without throwing. */
  async grants(token: string, repo: RepoName): Promise<boolean> {
    return this.verifier.verify(token, repo).then(
      () => true,
      (err: unknown) => {
        if (err instanceof InsufficientScopeError || err instanceof InvalidTokenError) return false
        throw err
      },
    )
  }

  /** The 401 for a request that brought no bearer token: the challenge without `error=`. */
  missing(repo: RepoName): AppError {
    return new AppError('UNAUTHORIZED', 'a bearer token with pull access is required', undefined, { 'www-authenticate': bearerChallenge(this.challenge, repo) })
  }
}
