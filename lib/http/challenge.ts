import type { RepoName } from '../core/domain.js'

/** Where a client gets a token, as the registry's own challenge names it. */
export interface ChallengeParams {
  readonly realm: string
  readonly service: string
}

export type ChallengeError = 'invalid_token' | 'insufficient_scope'

const quote = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`

/** distribution's challenge for pull on one repository, with `error=` when a token was given but refused. */
export function bearerChallenge(p: ChallengeParams, repo: RepoName, error?: ChallengeError): string {
  const parts = [`realm=${quote(p.realm)}`, `service=${quote(p.service)}`, `scope=${quote(`repository:${repo}:pull`)}`]
  if (error) parts.push(`error=${quote(error)}`)
  return `Bearer ${parts.join(',')}`
}

export interface ParsedChallenge {
  readonly scheme: 'basic' | 'bearer'
  readonly params: Readonly<Record<string, string>>
}

const PARAM = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/y

/**
 * Reads a WWW-Authenticate value. Bearer is preferred when a header lists
 * several challenges; undefined when it names neither Bearer nor Basic.
 */
export function parseChallenge(header: string | undefined): ParsedChallenge | undefined {
  if (!header) return undefined
  const bearer = /(?:^|[\s,])Bearer\s+/i.exec(header)
  if (bearer) return { scheme: 'bearer', params: readParams(header.slice(bearer.index + bearer[0].length)) }
  if (/(?:^|[\s,])Basic(?:\s|$)/i.test(header)) return { scheme: 'basic', params: {} }
  return undefined
}

function readParams(s: string): Record<string, string> {
  const out: Record<string, string> = {}
  let i = 0
  for (let n = 0; n < 32 && i < s.length; n++) {
    PARAM.lastIndex = i
    const m = PARAM.exec(s)
    if (!m) break
    const key = m[1].toLowerCase()
    if (!(key in out)) out[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]
    i = PARAM.lastIndex
    const sep = /^\s*,\s*/.exec(s.slice(i))
    if (!sep) break
    i += sep[0].length
  }
  return out
}
