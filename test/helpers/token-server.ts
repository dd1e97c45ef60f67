import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, type JWTPayload } from 'jose'
import type { TokenKeys } from './token-keys.js'

export type SignMode = 'rs256-kid' | 'es256-x5c'

export interface Access {
  readonly type: string
  readonly name: string
  readonly actions: readonly string[]
}

export interface User {
  readonly password: string
  /** What this user may do on a repository, of what was asked. */
  readonly may: (repo: string) => readonly string[]
}

export interface TokenServer {
  readonly url: string
  readonly realm: string
  readonly issuer: string
  readonly service: string
  /** How tokens are signed from now on: RS256 with a libtrust kid and no x5c (as Harbor does), or ES256 with an x5c chain. */
  mode: SignMode
  /** Token requests answered with a token, by user. */
  issued(user: string): number
  /** A token as the server would sign it, with any claim or header overridden: for refusal tests. */
  mint(claims: JWTPayload, opts?: { mode?: SignMode; header?: Record<string, unknown>; key?: 'unknown' }): Promise<string>
  close(): Promise<void>
}

/**
 * A registry token service (distribution's token auth spec): `GET /token?service=&scope=…`
 * with Basic credentials answers `{token, access_token, expires_in, issued_at}`,
 * granting each user the asked actions it may have.
 */
export async function startTokenServer(o: { keys: TokenKeys; issuer: string; service: string; users: Record<string, User>; lifetimeS?: number }): Promise<TokenServer> {
  const counts = new Map<string, number>()
  const lifetimeS = o.lifetimeS ?? 300
  const state = { mode: 'rs256-kid' as SignMode }

  const mint = async (claims: JWTPayload, opts: { mode?: SignMode; header?: Record<string, unknown>; key?: 'unknown' } = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000)
    const mode = opts.mode ?? state.mode
    const base = mode === 'rs256-kid'
      ? { alg: 'RS256', typ: 'JWT', kid: (opts.key === 'unknown' ? o.keys.unknown : o.keys.rsa).kid }
      : { alg: 'ES256', typ: 'JWT', x5c: [...o.keys.x5c] }
    const key = opts.key === 'unknown' ? o.keys.unknown.key : mode === 'rs256-kid' ? o.keys.rsa.key : o.keys.ecLeaf.key
    return new SignJWT({ iss: o.issuer, aud: o.service, sub: 'someone', iat: now, nbf: now, exp: now + lifetimeS, jti: randomBytes(8).toString('hex'), ...claims })
      .setProtectedHeader({ ...base, ...opts.header } as { alg: string })
      .sign(key)
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://token')
      const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '')
      const [user, password] = m ? Buffer.from(m[1], 'base64').toString('utf8').split(/:(.*)/s) : []
      const u = user !== undefined ? o.users[user] : undefined
      if (url.pathname !== '/token' || !u || u.password !== password) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="token"', 'content-type': 'application/json' }).end('{"details":"bad credentials"}')
        return
      }
      const access: Access[] = url.searchParams.getAll('scope').flatMap((scope) => {
        const s = /^repository:([^:]+):(.+)$/.exec(scope)
        if (!s) return []
        const allowed = u.may(s[1])
        const actions = s[2].split(',').filter((a) => allowed.includes(a))
        return actions.length ? [{ type: 'repository', name: s[1], actions }] : []
      })
      const token = await mint({ sub: user, access })
      counts.set(user!, (counts.get(user!) ?? 0) + 1)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: lifetimeS, issued_at: new Date().toISOString() }))
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    realm: `${url}/token`,
    issuer: o.issuer,
    service: o.service,
    get mode() {
      return state.mode
    },
    set mode(m: SignMode) {
      state.mode = m
    },
    issued: (user) => counts.get(user) ?? 0,
    mint,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
