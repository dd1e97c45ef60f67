import { pipeline } from 'node:stream/promises'
import express, { type Express, type Request } from 'express'
import type { PullGuard } from '../lib/auth/guard.js'
import { Digest, RepoName } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import { bearerMatches, errorMiddleware, jsonBody, notFound, wrap } from '../lib/http/middleware.js'
import type { Logger } from '../lib/core/logger.js'
import type { BlobTorrent } from '../lib/swarm/torrent.js'
import { parseDistributionEnvelope } from '../webhooks/distribution.js'
import { shaped } from '../webhooks/shape.js'
import type { BlobService } from './blob-service.js'
import type { PreseedQueue } from './preseed-queue.js'
import type { Tracker } from './tracker.js'
import { parseInlineLimits, type InlinePolicy } from './inline.js'
import { harborWebhookRoutes } from './harbor-routes.js'

export interface SidecarAppDeps {
  readonly blobs: BlobService
  readonly queue: PreseedQueue
  readonly tracker: Tracker
  readonly inline: InlinePolicy
  readonly logger: Logger
  readonly webhookToken?: string
  readonly preheatToken?: string
  /** Extra routes (Harbor's preheat provider), mounted before the catch-all. */
  readonly extraRoutes?: readonly express.Router[]
  /** With token auth: blob routes need a token with pull on `?repo=`. */
  readonly guard?: PullGuard
  /** The torrent as handed to an agent (with token auth, its announce URL carries a fresh swarm credential). */
  readonly handOut?: (t: BlobTorrent) => Buffer
}

const WEBHOOK_TYPES = new Set([
  'application/vnd.docker.distribution.events.v1+json',
  'application/vnd.docker.distribution.events.v2+json',
  'application/json',
])

/** Every route of the sidecar. Listening happens elsewhere, so tests can build this directly. */
export function buildSidecarApp(deps: SidecarAppDeps): Express {
  const app = express()
  app.disable('x-powered-by')

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', queued: deps.queue.size })
  })

  app.post('/webhooks/distribution', express.raw({ type: () => true, limit: '5mb' }), wrap((req, res) => {
    if (deps.webhookToken !== undefined && !bearerMatches(req.get('authorization'), deps.webhookToken)) {
      throw new AppError('WEBHOOK_UNAUTHORIZED')
    }
    const type = (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase()
    if (!WEBHOOK_TYPES.has(type)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not a notification envelope`)
    const parsed = shaped(() => parseDistributionEnvelope(jsonBody(req)))
    const { queued, duplicates } = deps.queue.offer(parsed.targets)
    deps.logger.info({ targets: parsed.targets.length, queued, duplicates, ignored: parsed.ignored }, 'webhook accepted')
    res.status(202).json({ queued, duplicates, ignored: parsed.ignored })
  }))

  /** The `?repo=` of a blob route, after the token check when auth is on. */
  const repoOf = async (req: Request): Promise<RepoName> => {
    if (typeof req.query.repo !== 'string') throw new AppError('REPO_REQUIRED')
    const repo = RepoName.parse(req.query.repo)
    await deps.guard?.check(req.get('authorization'), repo)
    return repo
  }

  app.get('/v1/blobs/:digest', wrap(async (req, res) => {
    const digest = Digest.parse(req.params.digest)
    if (deps.guard) await repoOf(req)
    res.json(deps.blobs.status(digest))
  }))

  app.get('/v1/blobs/:digest/torrent', wrap(async (req, res) => {
    const digest = Digest.parse(req.params.digest)
    const repo = await repoOf(req)
    const limits = parseInlineLimits(req.query)
    const t = await deps.blobs.ensure({ repo, digest })
    const torrent = deps.handOut ? deps.handOut(t) : t.torrent
    if (await deps.inline.answer(res, t, torrent, limits, deps.blobs)) return
    res.type('application/x-bittorrent').set('x-layerseed-info-hash', t.infoHash.hex).send(torrent)
  }))

  // A blob's bytes from the verified store. (Agents get small blobs in the answer to their torrent request.)
  app.get('/v1/blobs/:digest/data', wrap(async (req, res) => {
    const digest = Digest.parse(req.params.digest)
    const t = await deps.blobs.ensure({ repo: await repoOf(req), digest })
    res.set({ 'content-type': 'application/octet-stream', 'content-length': String(t.size), 'docker-content-digest': digest.toString() })
    await pipeline(deps.blobs.read(digest), res)
  }))

  // The deps themselves, not copies of the tokens: they may change while the sidecar runs.
  app.use(harborWebhookRoutes(deps))
  for (const r of deps.extraRoutes ?? []) app.use(r)

  app.get('/announce', (req, res) => deps.tracker.handle(req, res, 'announce'))
  app.get('/scrape', (req, res) => deps.tracker.handle(req, res, 'scrape'))

  app.use(notFound)
  app.use(errorMiddleware(deps.logger))
  return app
}
