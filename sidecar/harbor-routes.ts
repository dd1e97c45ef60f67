import express, { type Request, type Response, type Router } from 'express'
import { AppError } from '../lib/core/errors.js'
import { bearerMatches, jsonBody, wrap } from '../lib/http/middleware.js'
import type { Logger } from '../lib/core/logger.js'
import { shaped } from '../webhooks/shape.js'
import { parseHarborEvent, type HarborFormat } from '../webhooks/harbor.js'
import { parseKrakenNotification } from '../webhooks/kraken.js'
import type { PreseedQueue } from './preseed-queue.js'

export interface HarborRoutesDeps {
  readonly queue: PreseedQueue
  readonly logger: Logger
  readonly webhookToken?: string
  readonly preheatToken?: string
}

/**
 * Preheat endpoints hand the caller's credentials to the origin, so unlike the
 * webhook token this one is not optional: without it they refuse everyone.
 */
export function requirePreheatToken(req: Request, token: string | undefined): void {
  if (token === undefined) throw new AppError('PREHEAT_UNAUTHORIZED', 'preheat endpoints are disabled: no --preheat-token is configured')
  if (!bearerMatches(req.get('authorization'), token)) throw new AppError('PREHEAT_UNAUTHORIZED')
}

function harborFormat(req: Request): HarborFormat {
  const type = (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase()
  if (type === 'application/json') return 'default'
  if (type === 'application/cloudevents+json') return 'cloudevents'
  throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not a Harbor webhook payload`)
}

/** Harbor's webhook and the Kraken-compatible preheat endpoint; both only queue manifest targets. */
export function harborWebhookRoutes(deps: HarborRoutesDeps): Router {
  const r = express.Router()
  const raw = express.raw({ type: () => true, limit: '5mb' })
  const accept = (res: Response, source: string, parsed: { targets: Parameters<PreseedQueue['offer']>[0]; ignored: number }, ok: number) => {
    const { queued, duplicates } = deps.queue.offer(parsed.targets)
    deps.logger.info({ source, targets: parsed.targets.length, queued, duplicates, ignored: parsed.ignored }, 'webhook accepted')
    res.status(ok).json({ queued, duplicates, ignored: parsed.ignored })
  }

  r.post('/webhooks/harbor', raw, wrap((req, res) => {
    if (deps.webhookToken !== undefined && !bearerMatches(req.get('authorization'), deps.webhookToken)) {
      throw new AppError('WEBHOOK_UNAUTHORIZED')
    }
    const format = harborFormat(req)
    const body = jsonBody(req)
    accept(res, `harbor-${format}`, shaped(() => parseHarborEvent(body, format)), 202)
  }))

  r.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })

  // Harbor's Kraken driver treats 208 as an error and any other 2xx as done.
  r.post('/registry/notifications', raw, wrap((req, res) => {
    requirePreheatToken(req, deps.preheatToken)
    const body = jsonBody(req)
    accept(res, 'kraken', shaped(() => parseKrakenNotification(body)), 200)
  }))
  return r
}
