import type { Clock } from '../core/clock.js'
import type { RepoName } from '../core/domain.js'
import { AppError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { Lru } from '../core/lru.js'
import { parseChallenge, type ParsedChallenge } from '../http/challenge.js'

export interface Credentials {
  readonly username: string
  readonly password: string
}

/**
 * How a registry client gets the Authorization for its own requests. Safe for
 * concurrent use.
 */
export interface RegistryAuthorizer {
  /**
   * The Authorization for a request about `repo` (none: a request that names
   * no repository, such as `GET /v2/`), or undefined when the registry wants
   * none. Throws UPSTREAM_AUTH_FAILED when the registry or its token service
   * refuses the credentials, UPSTREAM_UNREACHABLE when they cannot be reached.
   */
  authorization(repo?: RepoName): Promise<string | undefined>
  /** The registry answered 401 with this challenge: drop what is cached for `repo` and follow the challenge next time. */
  challenged(wwwAuthenticate: string | undefined, repo?: RepoName): void
}

type Scheme = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; realm: string; service: string | undefined }

interface Token {
  readonly value: string
  readonly renewAt: number
}

export interface TokenClientOptions {
  /** The registry's base URL: its own challenge names the realm, never a payload. */
  readonly registry: string
  readonly credentials: Credentials
  readonly clock: Clock
  readonly logger: Logger
  readonly timeoutMs?: number
  /** Scopes whose tokens are remembered at once. */
  readonly maxScopes?: number
}

const DEFAULT_LIFETIME_S = 60

/** A realm gets our password: it must be plain http(s) with no credentials of its own. */
function realmOf(c: ParsedChallenge): string {
  const raw = c.params.realm
  let u: URL
  try {
    u = new URL(raw ?? '')
  } catch {
    throw new AppError('UPSTREAM_AUTH_FAILED', `the registry's challenge names no usable realm: ${JSON.stringify(raw?.slice(0, 200))}`)
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password) {
    throw new AppError('UPSTREAM_AUTH_FAILED', `the registry's token realm must be an http(s) URL without credentials, got ${JSON.stringify(`${u.protocol}//${u.host}${u.pathname}`)}`)
  }
  return u.toString()
}

/**
 * The registry token flow for this process's own credentials (a robot
 * account): learns the registry's challenge from `GET /v2/` or a 401, then
 * sends Basic when it asks for Basic, or gets a pull token for each
 * repository from the challenge's realm. Tokens are kept per scope in a
 * bounded LRU and renewed shortly before they expire; concurrent requests for
 * one scope share one token request. The password and tokens are never logged.
 */
export class RegistryTokenClient implements RegistryAuthorizer {
  private scheme: Scheme | undefined
  private probing: Promise<Scheme> | undefined
  private readonly tokens: Lru<string, Token>
  private readonly inflight = new Map<string, Promise<Token>>()
  private readonly basic: string

  constructor(private readonly opts: TokenClientOptions) {
    this.tokens = new Lru(opts.maxScopes ?? 1000)
    this.basic = `Basic ${Buffer.from(`${opts.credentials.username}:${opts.credentials.password}`).toString('base64')}`
  }

  async authorization(repo?: RepoName): Promise<string | undefined> {
    const scheme = this.scheme ?? (await this.probe())
    if (scheme.kind === 'none') return undefined
    if (scheme.kind === 'basic') return this.basic
    const scope = scopeOf(repo)
    const cached = this.tokens.get(scope)
    if (cached && this.opts.clock.now() < cached.renewAt) return `Bearer ${cached.value}`
    return `Bearer ${(await this.token(scheme, scope)).value}`
  }

  challenged(wwwAuthenticate: string | undefined, repo?: RepoName): void {
    this.tokens.delete(scopeOf(repo))
    const parsed = parseChallenge(wwwAuthenticate)
    try {
      this.scheme = parsed ? schemeOf(parsed) : undefined
    } catch {
      // An unusable challenge: probe /v2/ again next time, which reports it.
      this.scheme = undefined
    }
  }

  private probe(): Promise<Scheme> {
    this.probing ??= this.ping().then(
      (s) => {
        this.scheme = s
        this.probing = undefined
        return s
      },
      (err: unknown) => {
        this.probing = undefined
        throw err
      },
    )
    return this.probing
  }

  private async ping(): Promise<Scheme> {
    const res = await this.get(`${this.opts.registry}/v2/`, undefined, 'the registry')
    await res.body?.cancel()
    if (res.status !== 401) return { kind: 'none' }
    const parsed = parseChallenge(res.headers.get('www-authenticate') ?? undefined)
    if (!parsed) throw new AppError('UPSTREAM_AUTH_FAILED', `${this.opts.registry}/v2/ answered 401 without a Basic or Bearer challenge`)
    return schemeOf(parsed)
  }

  private token(scheme: Extract<Scheme, { kind: 'bearer' }>, scope: string): Promise<Token> {
    let p = this.inflight.get(scope)
    if (!p) {
      p = this.fetchToken(scheme, scope).finally(() => this.inflight.delete(scope))
      this.inflight.set(scope, p)
    }
    return p
  }

  private async fetchToken(scheme: Extract<Scheme, { kind: 'bearer' }>, scope: string): Promise<Token> {
    const url = new URL(scheme.realm)
    if (scheme.service !== undefined) url.searchParams.set('service', scheme.service)
    if (scope) url.searchParams.set('scope', scope)
    const where = `the token service ${url.origin}${url.pathname}`
    const res = await this.get(url.toString(), this.basic, where)
    const text = await res.text()
    if (!res.ok) throw new AppError('UPSTREAM_AUTH_FAILED', `${where} refused the credentials of ${JSON.stringify(this.opts.credentials.username)} for ${scope || 'no scope'}: HTTP ${res.status}`)
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown }
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      throw new AppError('UPSTREAM_AUTH_FAILED', `${where} answered with something other than JSON`)
    }
    const value = typeof body.token === 'string' && body.token ? body.token : body.access_token
    if (typeof value !== 'string' || !value) throw new AppError('UPSTREAM_AUTH_FAILED', `${where} answered without a token`)
    const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_LIFETIME_S) * 1000
    // Renew before expiry: a token is never sent in its last quarter of life or last 30 s.
    const token = { value, renewAt: this.opts.clock.now() + lifetimeMs - Math.min(30_000, lifetimeMs / 4) }
    this.tokens.set(scope, token)
    this.opts.logger.debug({ scope: scope || undefined, expiresInS: lifetimeMs / 1000 }, 'registry token obtained')
    return token
  }

  private async get(url: string, authorization: string | undefined, what: string): Promise<Response> {
    try {
      return await fetch(url, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000) })
    } catch (err) {
      throw new AppError('UPSTREAM_UNREACHABLE', `${what}: ${(err as Error).message}`, err)
    }
  }
}

const scopeOf = (repo: RepoName | undefined) => (repo ? `repository:${repo}:pull` : '')

function schemeOf(c: ParsedChallenge): Scheme {
  if (c.scheme === 'basic') return { kind: 'basic' }
  return { kind: 'bearer', realm: realmOf(c), service: c.params.service }
}
