import { AppError } from '../lib/core/errors.js'

export interface Resolved {
  /** Base URL of the upstream registry, e.g. http://registry:5000. */
  readonly upstream: string
  /** The path to request there, e.g. /v2/library/alpine/manifests/1.0 (no `ns`). */
  readonly path: string
  /** The repository name within that upstream, when the path names one. */
  readonly repo: string | undefined
}

/**
 * Picks the upstream for a mirror request. containerd names it with `?ns=host`;
 * podman/skopeo mirrors put it as the first path segment (`host`, or
 * `host_port` since a path cannot hold ':'); with neither, the default
 * upstream serves. A named host must be configured: the agent never proxies
 * to a host a request names.
 */
export class Upstreams {
  private readonly byHost = new Map<string, string>()
  private readonly pathPrefixes = new Map<string, string>()

  constructor(private readonly urls: readonly string[]) {
    for (const u of urls) {
      const host = new URL(u).host
      this.byHost.set(host, u)
      // A repository path cannot hold ':', so podman mirrors name `host:port` as `host_port`.
      this.pathPrefixes.set(host.replace(':', '_'), u)
    }
  }

  get default(): string {
    return this.urls[0]
  }

  resolve(rawUrl: string): Resolved {
    const url = new URL(rawUrl, 'http://agent')
    const ns = url.searchParams.get('ns')
    url.searchParams.delete('ns')
    let upstream = this.default
    if (ns !== null) {
      const chosen = this.byHost.get(ns)
      if (!chosen) throw new AppError('UPSTREAM_NOT_ALLOWED', `ns=${JSON.stringify(ns.slice(0, 200))} is not a configured upstream`)
      upstream = chosen
    }
    let rest = url.pathname.replace(/^\/v2\/?/, '')
    const first = rest.split('/')[0]
    const prefixed = this.pathPrefixes.get(first) ?? this.byHost.get(first)
    if (prefixed) {
      upstream = prefixed
      rest = rest.slice(first.length + 1)
    } else if (first.includes(':')) {
      // A host:port segment that is not configured: a mirror for some other registry.
      throw new AppError('UPSTREAM_NOT_ALLOWED', `${JSON.stringify(first.slice(0, 200))} is not a configured upstream`)
    }
    const m = /^(.+)\/(manifests|blobs|tags|referrers)\//.exec(rest)
    const query = url.searchParams.toString()
    return { upstream, path: `/v2/${rest}${query ? `?${query}` : ''}`, repo: m?.[1] }
  }
}
