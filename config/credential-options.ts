import { MIN_SECRET_BYTES } from '../lib/auth/swarm-credential.js'
import type { Credentials } from '../lib/registry/token-client.js'
import { authGiven, authOptions, authProblems, pairProblems, readSecretFile, readText, text, withSecretFile, type AuthFields } from './auth-options.js'
import { optionTable, type Problem } from './spec.js'
import { parseDuration } from './units.js'

// The sidecar's and the agent's own credentials, and the sidecar's swarm secret.

export interface OriginCredentialFields {
  readonly originUsername?: string
  readonly originPassword?: string
  readonly swarmSecret?: string
  readonly swarmCredentialTtlMs: number
}

function swarmSecretFile(raw: unknown): string {
  const s = readSecretFile(raw)
  if (Buffer.byteLength(s) < MIN_SECRET_BYTES) throw new Error(`the secret must be at least ${MIN_SECRET_BYTES} bytes`)
  return s
}

function ttl(raw: unknown): number {
  const ms = parseDuration(raw)
  if (ms < 60_000) throw new Error('want at least 1m')
  return ms
}

const originOptions = optionTable<OriginCredentialFields>()({
  originUsername: { flag: 'origin-username', field: 'originUsername', arg: 'NAME', help: 'robot account the sidecar reads the origin with (Basic, or the token flow of the origin\'s challenge)', parse: text },
  originPassword: withSecretFile({ flag: 'origin-password', field: 'originPassword', arg: 'SECRET', help: 'its password', parse: text }),
  swarmSecret: { flag: 'swarm-secret-file', field: 'swarmSecret', arg: 'FILE', help: 'secret that signs swarm credentials, shared by several sidecars (default: <data-dir>/swarm-secret, created)', parse: swarmSecretFile },
  swarmCredentialTtlMs: { flag: 'swarm-credential-ttl', field: 'swarmCredentialTtlMs', arg: 'DURATION', default: '1h', help: 'lifetime of the credential in a handed-out torrent\'s announce URL (token auth only)', parse: ttl },
})

export const sidecarAuthOptions = optionTable<AuthFields & OriginCredentialFields>()({ ...authOptions, ...originOptions })

export interface UpstreamCredentialFields {
  readonly upstreamUsername?: string
  readonly upstreamPassword?: string
  /** Credentials by upstream host[:port], from a docker config.json. */
  readonly upstreamAuth?: Readonly<Record<string, Credentials>>
}

/** The `auths` of a docker/podman config.json: `{"auths":{"host":{"auth":"base64(user:pass)"}}}` or username/password. */
export function parseAuthFile(raw: unknown): Record<string, Credentials> {
  const file = text(raw)
  let doc: unknown
  try {
    doc = JSON.parse(readText(file))
  } catch (err) {
    throw new Error(err instanceof SyntaxError ? `${file} is not JSON` : (err as Error).message)
  }
  const auths = (doc as { auths?: unknown } | null)?.auths
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw new Error(`${file} must hold an "auths" object`)
  const out: Record<string, Credentials> = {}
  for (const [key, v] of Object.entries(auths)) {
    const host = key.includes('://') ? new URL(key).host : key.split('/')[0]
    const e = (v ?? {}) as Record<string, unknown>
    const [username, password] = typeof e.auth === 'string'
      ? (() => {
          const plain = Buffer.from(e.auth, 'base64').toString('utf8')
          const i = plain.indexOf(':')
          return i > 0 ? [plain.slice(0, i), plain.slice(i + 1)] : [undefined, undefined]
        })()
      : [e.username, e.password]
    if (typeof username !== 'string' || !username || typeof password !== 'string' || !password) {
      throw new Error(`${file}: auths.${JSON.stringify(key)} needs "auth" (base64 of user:password) or "username" and "password"`)
    }
    out[host] = { username, password }
  }
  return out
}

const upstreamOptions = optionTable<UpstreamCredentialFields>()({
  upstreamUsername: { flag: 'upstream-username', field: 'upstreamUsername', arg: 'NAME', help: 'node credentials: the agent gets its own pull token with them (one --upstream only)', parse: text },
  upstreamPassword: withSecretFile({ flag: 'upstream-password', field: 'upstreamPassword', arg: 'SECRET', help: 'their password', parse: text }),
  upstreamAuth: { flag: 'upstream-auth-file', field: 'upstreamAuth', arg: 'FILE', help: 'node credentials per upstream host, as a docker config.json "auths"', parse: parseAuthFile },
})

export const agentAuthOptions = optionTable<AuthFields & UpstreamCredentialFields>()({ ...authOptions, ...upstreamOptions })

export function sidecarAuthProblems(c: Partial<AuthFields & OriginCredentialFields>): Problem[] {
  const problems = [...authProblems(c), ...pairProblems(c, originOptions.originUsername, originOptions.originPassword[0])]
  // A sidecar reachable by the cluster would otherwise hand anyone what the robot account may read.
  if (c.originUsername !== undefined && !authGiven(c)) {
    problems.push({ key: '--origin-username', message: 'needs token auth (--auth-realm, --auth-issuer, --auth-service, --auth-root-certs): without it the sidecar would serve what these credentials read to anyone' })
  }
  return problems
}

// The agent's upstreams are the schema's, not an option of this group; only their hosts matter here.
export function agentAuthProblems(c: Partial<AuthFields & UpstreamCredentialFields & { readonly upstreams: readonly string[] }>): Problem[] {
  const problems = [...authProblems(c), ...pairProblems(c, upstreamOptions.upstreamUsername, upstreamOptions.upstreamPassword[0])]
  const upstreams = c.upstreams ?? []
  if (c.upstreamUsername !== undefined && upstreams.length > 1) {
    problems.push({ key: '--upstream-username', message: 'applies to a single --upstream; with several, give each its credentials in --upstream-auth-file' })
  }
  const hosts = new Set(upstreams.map((u) => new URL(u).host))
  for (const host of Object.keys(c.upstreamAuth ?? {})) {
    if (!hosts.has(host)) problems.push({ key: '--upstream-auth-file', message: `names ${JSON.stringify(host)}, which is not a configured --upstream` })
  }
  return problems
}

