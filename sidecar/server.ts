import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import type { PullGuard } from '../lib/auth/guard.js'
import type { BlobCache } from '../lib/cache/blob-cache.js'
import type { Logger } from '../lib/core/logger.js'
import { errorMiddleware, inFlightLimit, notFound, rawBody, wrap } from '../lib/http/middleware.js'
import type { BlobTorrent } from '../lib/swarm/torrent.js'
import { blobHandlers } from './blob-routes.js'
import { checkPreheatToken, checkWebhookToken } from './intake.js'
import type { BlobService } from './blob-service.js'
import type { InlinePolicy } from './inline.js'
import { preheatHandlers } from './preheat-routes.js'
import type { PreheatJobs } from './preheat-jobs.js'
import type { PreseedQueue } from './preseed-queue.js'
import type { Tracker } from '../lib/swarm/tracker.js'
import { webhookHandlers } from './webhook-routes.js'
import type { SidecarMeter, WebhookSource } from './metrics.js'
import { AppError } from '../lib/core/errors.js'
import { jsonBody } from '../lib/http/middleware.js'
import type { MembersAnswer } from '../lib/protocol/owners.js'
import { parseTarget } from './intake-journal.js'

export interface SidecarAppDeps {
  readonly blobs: BlobService
  readonly queue: PreseedQueue
  readonly tracker: Tracker
  readonly inline: InlinePolicy
  readonly cache: BlobCache
  readonly jobs: PreheatJobs
  /** The registry blobs come from; preheat URLs must name it. */
  readonly origin: string
  readonly logger: Logger
  /** Read per request, so an edited config file changes them without a restart. */
  readonly webhookToken?: string
  readonly preheatToken?: string
  /** Webhook requests handled at once; more get 503 BUSY. */
  readonly webhookConcurrency: number
  /** With token auth: blob routes need a token with pull on `?repo=`. */
  readonly guard?: PullGuard
  /** The torrent as handed to an agent (with token auth, its announce URL carries a fresh swarm credential). */
  readonly handOut?: (t: BlobTorrent) => Buffer
  /** Counts webhook events; none in tests that do not look. */
  readonly meter?: Pick<SidecarMeter, 'webhook'>
  /** The Prometheus text of `GET /metrics`. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>
  /** The live members of this sidecar's group (this sidecar alone without one). */
  readonly members: () => MembersAnswer
  /** In a group: the token other members present on blob reads (the webhook token), read per request. */
  readonly memberToken?: () => string | undefined
}

/** Bodies are read whole before parsing; these bound them (413 past the limit, at once when Content-Length says so). */
const WEBHOOK_BODY = rawBody(5 << 20)
const PREHEAT_BODY = rawBody(1 << 20)

type Check = (req: Request, token: string | undefined, logger: Logger) => void

/**
 * Every route of the sidecar, in one place. Listening happens elsewhere, so
 * tests can build this directly. `deps` is passed on as it is, not copied:
 * its tokens may change while the sidecar runs.
 */
export function buildSidecarApp(deps: SidecarAppDeps): Express {
  const app = express()
  app.disable('x-powered-by')
  const hooks = webhookHandlers(deps)
  const blobs = blobHandlers(deps)
  const preheat = preheatHandlers({ jobs: deps.jobs, origin: deps.origin, logger: deps.logger.child({ part: 'preheat' }) })

  // Bounded first, then the token, and only then the body is read: a flood or a stranger costs no parsing.
  const gate = inFlightLimit(() => deps.webhookConcurrency)
  const token = (check: Check, which: 'webhookToken' | 'preheatToken') => (req: Request, _res: Response, next: NextFunction) => {
    try {
      check(req, deps[which], deps.logger)
      next()
    } catch (err) {
      next(err)
    }
  }
  const webhookToken = token(checkWebhookToken, 'webhookToken')
  const preheatToken = token(checkPreheatToken, 'preheatToken')
  // A push request turned away at any step (busy, token, body, shape, a full queue) counts once as refused.
  const refused = (source: WebhookSource) => (err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    deps.meter?.webhook(source, 'refused')
    next(err)
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', queued: deps.queue.size })
  })

  // Push events: distribution's notifications, Harbor's webhook, Harbor's Kraken preheat driver.
  app.post('/webhooks/distribution', gate, webhookToken, WEBHOOK_BODY, wrap(hooks.distribution), refused('distribution'))
  app.post('/webhooks/harbor', gate, webhookToken, WEBHOOK_BODY, wrap(hooks.harbor), refused('harbor'))
  app.post('/registry/notifications', gate, preheatToken, WEBHOOK_BODY, wrap(hooks.kraken), refused('kraken'))
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })

  // Harbor's Dragonfly preheat provider.
  app.get('/healthy', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.post('/oapi/v1/jobs', preheatToken, PREHEAT_BODY, wrap(preheat.create))
  app.get('/oapi/v1/jobs/:id', preheatToken, wrap(preheat.get))
  app.get('/v1/jobs', preheatToken, wrap(preheat.list))

  // Blobs, for agents and operators.
  app.get('/v1/blobs/:digest', wrap(blobs.status))
  app.get('/v1/blobs/:digest/torrent', wrap(blobs.torrent))
  app.get('/v1/blobs/:digest/data', wrap(blobs.data))
  app.get('/v1/cache', wrap(async (_req, res) => {
    res.json(await deps.cache.status())
  }))
  app.get('/v1/blobs', (_req, res) => {
    res.json(deps.blobs.list(deps.guard === undefined))
  })
  // The group: who is in it (agents learn the owners from this), and targets another member handed over.
  app.get('/v1/members', (_req, res) => {
    res.json(deps.members())
  })
  app.post('/v1/group/targets', gate, webhookToken, WEBHOOK_BODY, wrap(async (req, res) => {
    const body = jsonBody(req) as { targets?: unknown }
    if (!Array.isArray(body.targets) || body.targets.length > 10_000) throw new AppError('BAD_SHAPE', 'want {"targets": [{"kind", "repo", "digest"}, ...]} with at most 10000 targets')
    const targets = body.targets.map((t: unknown, i) => {
      try {
        return parseTarget(t)
      } catch (err) {
        throw new AppError('BAD_SHAPE', `targets[${i}]: ${(err as Error).message}`)
      }
    })
    const { queued, duplicates } = await deps.queue.offer(targets, { forwarded: true })
    res.status(202).json({ queued, duplicates })
  }))
  app.get('/metrics', wrap(async (_req, res) => {
    const m = await deps.metrics()
    res.type(m.contentType).send(m.body)
  }))

  // The swarm's tracker.
  app.get('/announce', (req, res) => deps.tracker.handle(req, res, 'announce'))
  app.get('/scrape', (req, res) => deps.tracker.handle(req, res, 'scrape'))

  app.use(notFound)
  app.use(errorMiddleware(deps.logger))
  return app
}
