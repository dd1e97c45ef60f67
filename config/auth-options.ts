import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseJwks, parsePemBundle } from '../lib/auth/keys.js'
import { optionList, optionTable, type Problem } from './spec.js'
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

export const authOptions = optionTable<AuthFields>()({
  authRealm: { flag: 'auth-realm', field: 'authRealm', arg: 'URL', help: 'the registry\'s token realm, named in the challenge of a refused request (token auth; default: off)', parse: realm },
  authIssuer: { flag: 'auth-issuer', field: 'authIssuer', arg: 'NAME', help: 'the token issuer (distribution\'s auth.token.issuer)', parse: text },
  authService: { flag: 'auth-service', field: 'authService', arg: 'NAME', help: 'the registry\'s service name: the tokens\' audience (auth.token.service)', parse: text },
  authRootCerts: { flag: 'auth-root-certs', field: 'authRootCerts', arg: 'FILE', help: 'PEM bundle of the token signers\' certificates (auth.token.rootcertbundle)', parse: keyFile(parsePemBundle) },
  authJwks: { flag: 'auth-jwks', field: 'authJwks', arg: 'FILE', help: 'JWKS file of further token signing keys (auth.token.jwks)', parse: keyFile(parseJwks) },
})

/** A secret's option and its `--NAME-file` form, which reads the same secret from a file so it need not sit on a command line. */
export function withSecretFile<S extends { readonly flag: string; readonly field: PropertyKey }>(spec: S): readonly [S, SecretFileSpec<S['field']>] {
  return [spec, { flag: `${spec.flag}-file`, field: spec.field, arg: 'FILE', help: `read --${spec.flag} from FILE`, parse: readSecretFile }]
}

interface SecretFileSpec<K> {
  readonly flag: string
  readonly field: K
  readonly arg: string
  readonly help: string
  readonly parse: (raw: unknown) => string
}

export const authGiven = (c: Partial<AuthFields>) => optionList<AuthFields>(authOptions).some((s) => c[s.field] !== undefined)

export function authProblems(c: Partial<AuthFields>): Problem[] {
  if (!authGiven(c)) return []
  const why = 'is required with token auth (--auth-realm, --auth-issuer, --auth-service, and --auth-root-certs or --auth-jwks)'
  const problems: Problem[] = []
  for (const spec of [authOptions.authRealm, authOptions.authIssuer, authOptions.authService]) {
    if (c[spec.field] === undefined) problems.push({ key: `--${spec.flag}`, message: why })
  }
  if (c.authRootCerts === undefined && c.authJwks === undefined) problems.push({ key: '--auth-root-certs', message: 'or --auth-jwks is required with token auth' })
  return problems
}

type Named<C> = { readonly flag: string; readonly field: keyof C }

/** A user name and its password: neither goes without the other. */
export function pairProblems<C>(c: Partial<C>, user: Named<C>, pass: Named<C>): Problem[] {
  if (c[user.field] !== undefined && c[pass.field] === undefined) return [{ key: `--${pass.flag}`, message: `is required with --${user.flag} (or --${pass.flag}-file)` }]
  if (c[user.field] === undefined && c[pass.field] !== undefined) return [{ key: `--${user.flag}`, message: `is required with --${pass.flag}` }]
  return []
}
