import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseJwks, parsePemBundle } from '../lib/auth/keys.js'
import { MIN_SECRET_BYTES } from '../lib/auth/swarm-credential.js'
import type { Credentials } from '../lib/auth/token-client.js'
import type { Problem } from './load.js'
import type { OptionSpec } from './schema.js'
import { parseDuration } from './units.js'
import { httpUrl } from './urls.js'

/** Token auth as distribution configures `auth.token`; all of it or none. */
export interface AuthFields {
  readonly authRealm?: string
  readonly authIssuer?: string
  readonly authService?: string
  readonly authRootCerts?: string
  readonly authJwks?: string
}

function text(raw: unknown): string {
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new Error(`want a non-empty string, got ${JSON.stringify(raw)}`)
  const s = String(raw).trim()
  if (s === '') throw new Error('want a non-empty string')
  return s
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`)
  }
}

/** A secret from a file: its content without the trailing newline. The value is never echoed in an error. */
export function readSecretFile(raw: unknown): string {
  const file = text(raw)
  const secret = readText(file).replace(/\r?\n$/, '')
  if (secret.trim() === '') throw new Error(`${file} is empty`)
  return secret
}

function realm(raw: unknown): string {
  const s = text(raw)
  httpUrl(s)
  return s
}

/** A key file is read and parsed at start, so a bad one stops the process naming its key. */
const keyFile = (parse: (text: string) => unknown) => (raw: unknown): string => {
  const file = path.resolve(text(raw))
  const content = readText(file)
  try {
    parse(content)
  } catch (err) {
    throw new Error(`${file} ${(err as Error).message}`)
  }
  return file
}

export const authOptions: readonly OptionSpec[] = [
  { flag: 'auth-realm', field: 'authRealm', arg: 'URL', help: 'the registry\'s token realm, named in the challenge of a refused request (token auth; default: off)', parse: realm },
  { flag: 'auth-issuer', field: 'authIssuer', arg: 'NAME', help: 'the token issuer (distribution\'s auth.token.issuer)', parse: text },
  { flag: 'auth-service', field: 'authService', arg: 'NAME', help: 'the registry\'s service name: the tokens\' audience (auth.token.service)', parse: text },
  { flag: 'auth-root-certs', field: 'authRootCerts', arg: 'FILE', help: 'PEM bundle of the token signers\' certificates (auth.token.rootcertbundle)', parse: keyFile(parsePemBundle) },
  { flag: 'auth-jwks', field: 'authJwks', arg: 'FILE', help: 'JWKS file of further token signing keys (auth.token.jwks)', parse: keyFile(parseJwks) },
]

/** `--NAME-file`: the same secret as `--NAME`, read from a file so it need not sit on a command line. */
export function secretFileOption(flag: string, field: string): OptionSpec {
  return { flag: `${flag}-file`, field, arg: 'FILE', help: `read --${flag} from FILE`, parse: readSecretFile }
}

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

export const sidecarAuthOptions: readonly OptionSpec[] = [
  ...authOptions,
  { flag: 'origin-username', field: 'originUsername', arg: 'NAME', help: 'robot account the sidecar reads the origin with (Basic, or the token flow of the origin\'s challenge)', parse: text },
  { flag: 'origin-password', field: 'originPassword', arg: 'SECRET', help: 'its password', parse: text },
  secretFileOption('origin-password', 'originPassword'),
  { flag: 'swarm-secret-file', field: 'swarmSecret', arg: 'FILE', help: 'secret that signs swarm credentials, shared by several sidecars (default: <data-dir>/swarm-secret, created)', parse: swarmSecretFile },
  { flag: 'swarm-credential-ttl', field: 'swarmCredentialTtlMs', arg: 'DURATION', default: '1h', help: 'lifetime of the credential in a handed-out torrent\'s announce URL (token auth only)', parse: ttl },
]

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

export const agentAuthOptions: readonly OptionSpec[] = [
  ...authOptions,
  { flag: 'upstream-username', field: 'upstreamUsername', arg: 'NAME', help: 'node credentials: the agent gets its own pull token with them (one --upstream only)', parse: text },
  { flag: 'upstream-password', field: 'upstreamPassword', arg: 'SECRET', help: 'their password', parse: text },
  secretFileOption('upstream-password', 'upstreamPassword'),
  { flag: 'upstream-auth-file', field: 'upstreamAuth', arg: 'FILE', help: 'node credentials per upstream host, as a docker config.json "auths"', parse: parseAuthFile },
]

type Fields = Record<string, unknown>

const authGiven = (c: Fields) => ['authRealm', 'authIssuer', 'authService', 'authRootCerts', 'authJwks'].some((f) => c[f] !== undefined)

function authProblems(c: Fields): Problem[] {
  if (!authGiven(c)) return []
  const why = 'is required with token auth (--auth-realm, --auth-issuer, --auth-service, and --auth-root-certs or --auth-jwks)'
  const problems: Problem[] = []
  for (const [field, flag] of [['authRealm', 'auth-realm'], ['authIssuer', 'auth-issuer'], ['authService', 'auth-service']]) {
    if (c[field] === undefined) problems.push({ key: `--${flag}`, message: why })
  }
  if (c.authRootCerts === undefined && c.authJwks === undefined) problems.push({ key: '--auth-root-certs', message: 'or --auth-jwks is required with token auth' })
  return problems
}

function pairProblems(c: Fields, user: [string, string], pass: [string, string]): Problem[] {
  if (c[user[0]] !== undefined && c[pass[0]] === undefined) return [{ key: `--${pass[1]}`, message: `is required with --${user[1]} (or --${pass[1]}-file)` }]
  if (c[user[0]] === undefined && c[pass[0]] !== undefined) return [{ key: `--${user[1]}`, message: `is required with --${pass[1]}` }]
  return []
}

export function sidecarAuthProblems(c: Fields): Problem[] {
  const problems = [...authProblems(c), ...pairProblems(c, ['originUsername', 'origin-username'], ['originPassword', 'origin-password'])]
  // A sidecar reachable by the cluster would otherwise hand anyone what the robot account may read.
  if (c.originUsername !== undefined && !authGiven(c)) {
    problems.push({ key: '--origin-username', message: 'needs token auth (--auth-realm, --auth-issuer, --auth-service, --auth-root-certs): without it the sidecar would serve what these credentials read to anyone' })
  }
  return problems
}

export function agentAuthProblems(c: Fields): Problem[] {
  const problems = [...authProblems(c), ...pairProblems(c, ['upstreamUsername', 'upstream-username'], ['upstreamPassword', 'upstream-password'])]
  const upstreams = Array.isArray(c.upstreams) ? (c.upstreams as string[]) : []
  if (c.upstreamUsername !== undefined && upstreams.length > 1) {
    problems.push({ key: '--upstream-username', message: 'applies to a single --upstream; with several, give each its credentials in --upstream-auth-file' })
  }
  const hosts = new Set(upstreams.map((u) => new URL(u).host))
  for (const host of Object.keys((c.upstreamAuth as Record<string, unknown> | undefined) ?? {})) {
    if (!hosts.has(host)) problems.push({ key: '--upstream-auth-file', message: `names ${JSON.stringify(host)}, which is not a configured --upstream` })
  }
  return problems
}

