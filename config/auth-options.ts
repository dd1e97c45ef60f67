import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseJwks, parsePemBundle } from '../lib/auth/keys.js'
import type { Problem } from './load.js'
import type { OptionSpec } from './schema.js'
import { httpUrl } from './urls.js'

/** Token auth as distribution configures `auth.token`; all of it or none. */
export interface AuthFields {
  readonly authRealm?: string
  readonly authIssuer?: string
  readonly authService?: string
  readonly authRootCerts?: string
  readonly authJwks?: string
}

export function text(raw: unknown): string {
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new Error(`want a non-empty string, got ${JSON.stringify(raw)}`)
  const s = String(raw).trim()
  if (s === '') throw new Error('want a non-empty string')
  return s
}

export function readText(file: string): string {
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

export type Fields = Record<string, unknown>

export const authGiven = (c: Fields) => ['authRealm', 'authIssuer', 'authService', 'authRootCerts', 'authJwks'].some((f) => c[f] !== undefined)

export function authProblems(c: Fields): Problem[] {
  if (!authGiven(c)) return []
  const why = 'is required with token auth (--auth-realm, --auth-issuer, --auth-service, and --auth-root-certs or --auth-jwks)'
  const problems: Problem[] = []
  for (const [field, flag] of [['authRealm', 'auth-realm'], ['authIssuer', 'auth-issuer'], ['authService', 'auth-service']]) {
    if (c[field] === undefined) problems.push({ key: `--${flag}`, message: why })
  }
  if (c.authRootCerts === undefined && c.authJwks === undefined) problems.push({ key: '--auth-root-certs', message: 'or --auth-jwks is required with token auth' })
  return problems
}

export function pairProblems(c: Fields, user: [string, string], pass: [string, string]): Problem[] {
  if (c[user[0]] !== undefined && c[pass[0]] === undefined) return [{ key: `--${pass[1]}`, message: `is required with --${user[1]} (or --${pass[1]}-file)` }]
  if (c[user[0]] === undefined && c[pass[0]] !== undefined) return [{ key: `--${user[1]}`, message: `is required with --${pass[1]}` }]
  return []
}
