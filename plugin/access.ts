import { bearerToken, type PullGuard } from '../lib/auth/guard.js'
import type { RegistryAuthorizer } from '../lib/registry/token-client.js'
import { RepoName } from '../lib/core/domain.js'
import type { Logger } from '../lib/core/logger.js'

export interface PullAccessDeps {
  /** With token auth: checks a client's token locally. */
  readonly guard?: PullGuard
  /** This node's own credentials for an upstream (`--upstream-username`), if any. */
  readonly ownAuth: (upstream: string) => RegistryAuthorizer | undefined
  readonly logger: Logger
}

/**
 * Who may read through this agent, and which Authorization it sends on: the
 * client's own when it sent one, else the node's (containerd and podman send
 * none to a mirror on another host).
 */
export class PullAccess {
  constructor(private readonly deps: PullAccessDeps) {}

  /**
   * For a blob: with token auth, the client's bearer token must grant pull on
   * repo; a client without one is served only when the node's own token was
   * granted pull on repo. Returns the Authorization to send to sidecars and
   * the upstream; throws UNAUTHORIZED or DENIED with the challenge.
   */
  async forBlob(client: string | undefined, upstream: string, repo: RepoName): Promise<string | undefined> {
    const guard = this.deps.guard
    if (!guard) return client ?? (await this.own(upstream, repo))
    if (client !== undefined) {
      await guard.check(client, repo)
      return client
    }
    const mine = await this.own(upstream, repo)
    const token = bearerToken(mine)
    if (token !== undefined && (await guard.grants(token, repo))) return mine
    throw guard.missing(repo)
  }

  /** For a proxied request (manifests, tags, `/v2/`): the node's Authorization when the client sent none, else undefined. */
  async forProxy(client: string | undefined, upstream: string, repo: string | undefined): Promise<string | undefined> {
    if (client !== undefined || !this.deps.ownAuth(upstream)) return undefined
    let name: RepoName | undefined
    try {
      name = repo === undefined ? undefined : RepoName.parse(repo)
    } catch {
      return undefined
    }
    return this.own(upstream, name)
  }

  /** The upstream refused the node's own Authorization: its next request follows the fresh challenge. */
  refused(upstream: string, challenge: string | undefined, repo: string | undefined): void {
    let name: RepoName | undefined
    try {
      name = repo === undefined ? undefined : RepoName.parse(repo)
    } catch {
      name = undefined
    }
    this.deps.ownAuth(upstream)?.challenged(challenge, name)
  }

  /** Without a token of its own the agent sends nothing, and the client sees the upstream's own challenge. */
  private async own(upstream: string, repo: RepoName | undefined): Promise<string | undefined> {
    const auth = this.deps.ownAuth(upstream)
    if (!auth) return undefined
    try {
      return await auth.authorization(repo)
    } catch (err) {
      this.deps.logger.warn({ upstream, repo: repo?.toString(), err: (err as Error).message }, 'could not get the node\'s own registry token')
      return undefined
    }
  }
}
