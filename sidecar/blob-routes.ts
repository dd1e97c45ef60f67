import { pipeline } from 'node:stream/promises'
import type { Request, Response } from 'express'
import type { PullGuard } from '../lib/auth/guard.js'
import { Digest, RepoName } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import { parseInlineLimits } from '../lib/protocol/inline.js'
import type { BlobTorrent } from '../lib/swarm/torrent.js'
import type { BlobService } from './blob-service.js'
import type { InlinePolicy } from './inline.js'
import { secretEquals } from '../lib/http/middleware.js'
import { MEMBER_HEADER } from './member-client.js'

export interface BlobRouteDeps {
  readonly blobs: BlobService
  readonly inline: InlinePolicy
  /** With token auth: blob routes need a token with pull on `?repo=`. */
  readonly guard?: PullGuard
  /** The torrent as handed to an agent (with token auth, its announce URL carries a fresh swarm credential). */
  readonly handOut?: (t: BlobTorrent) => Buffer
  /** In a group: the token other members present in X-Layerseed-Member (the webhook token), read per request. */
  readonly memberToken?: () => string | undefined
}

/** The blob handlers agents and operators call; the server mounts them. */
export function blobHandlers(deps: BlobRouteDeps) {
  /** The `?repo=` of a blob route, after the token check when auth is on. */
  const repoOf = async (req: Request): Promise<RepoName> => {
    if (typeof req.query.repo !== 'string') throw new AppError('REPO_REQUIRED')
    const repo = RepoName.parse(req.query.repo)
    if (!fromMember(req)) await deps.guard?.check(req.get('authorization'), repo)
    return repo
  }
  /** Another member of the group, by the token only members have. */
  const fromMember = (req: Request): boolean => {
    const token = deps.memberToken?.()
    const given = req.get(MEMBER_HEADER)
    return token !== undefined && given !== undefined && secretEquals(given, token)
  }

  return {
    async status(req: Request, res: Response): Promise<void> {
      const digest = Digest.parse(req.params.digest)
      if (deps.guard) await repoOf(req)
      res.json(deps.blobs.status(digest))
    },

    async torrent(req: Request, res: Response): Promise<void> {
      const digest = Digest.parse(req.params.digest)
      const repo = await repoOf(req)
      const limits = parseInlineLimits(req.query)
      const t = await deps.blobs.ensure({ repo, digest })
      const torrent = deps.handOut ? deps.handOut(t) : t.torrent
      if (await deps.inline.answer(res, t, torrent, limits, deps.blobs)) return
      res.type('application/x-bittorrent').set('x-layerseed-info-hash', t.infoHash.hex).send(torrent)
    },

    /** A blob's bytes from the verified store. (Agents get small blobs in the answer to their torrent request.) */
    async data(req: Request, res: Response): Promise<void> {
      const digest = Digest.parse(req.params.digest)
      const t = await deps.blobs.ensure({ repo: await repoOf(req), digest }, { originOnly: fromMember(req) })
      res.set({ 'content-type': 'application/octet-stream', 'content-length': String(t.size), 'docker-content-digest': digest.toString() })
      await pipeline(deps.blobs.read(digest), res)
    },
  }
}
