import { Digest, RepoName } from '../lib/core/domain.js'

export interface PreheatTarget {
  readonly repo: RepoName
  /** A tag or a digest, as Harbor's URL gave it. */
  readonly reference: string
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/

/**
 * Reads `<origin>/v2/<name>/manifests/<reference>` from a preheat request.
 * Undefined when it is not on the configured origin or not a manifest URL:
 * the sidecar fetches from its origin only, whatever a payload names.
 */
export function preheatTargetOf(rawUrl: string, originBase: string): PreheatTarget | undefined {
  let u: URL
  try {
    u = new URL(rawUrl)
  } catch {
    return undefined
  }
  const origin = new URL(originBase)
  if (u.protocol !== origin.protocol || u.host !== origin.host || u.username || u.password) return undefined
  const prefix = `${origin.pathname.replace(/\/+$/, '')}/v2/`
  if (!u.pathname.startsWith(prefix)) return undefined
  const m = /^(.+)\/manifests\/([^/]+)$/.exec(u.pathname.slice(prefix.length))
  if (!m) return undefined
  let repo: RepoName
  try {
    repo = RepoName.parse(m[1])
    if (m[2].includes(':')) Digest.parse(m[2])
    else if (!TAG.test(m[2])) return undefined
  } catch {
    return undefined
  }
  return { repo, reference: m[2] }
}
