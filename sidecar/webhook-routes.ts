import type { Request, Response } from 'express'
import { AppError } from '../lib/core/errors.js'
import { jsonBody } from '../lib/http/middleware.js'
import { parseDistributionEnvelope } from '../webhooks/distribution.js'
import { parseHarborEvent, type HarborFormat } from '../webhooks/harbor.js'
import { parseKrakenNotification } from '../webhooks/kraken.js'
import { shaped } from '../webhooks/shape.js'
import { acceptPush, checkPreheatToken, checkWebhookToken, mediaType, type Intake } from './intake.js'

export interface WebhookDeps extends Intake {
  /** Read per request: an edited config file changes them without a restart. */
  readonly webhookToken?: string
  readonly preheatToken?: string
}

const ENVELOPE_TYPES = new Set([
  'application/vnd.docker.distribution.events.v1+json',
  'application/vnd.docker.distribution.events.v2+json',
  'application/json',
])

function harborFormat(req: Request): HarborFormat {
  const type = mediaType(req)
  if (type === 'application/json') return 'default'
  if (type === 'application/cloudevents+json') return 'cloudevents'
  throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not a Harbor webhook payload`)
}

/** The push-event handlers of every source; the server mounts them. */
export function webhookHandlers(deps: WebhookDeps) {
  return {
    /** distribution's notification endpoint. */
    distribution(req: Request, res: Response): void {
      checkWebhookToken(req, deps.webhookToken, deps.logger)
      const type = mediaType(req)
      if (!ENVELOPE_TYPES.has(type)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not a notification envelope`)
      const body = jsonBody(req)
      acceptPush(deps, res, 'distribution', shaped(() => parseDistributionEnvelope(body)), 202)
    },

    /** Harbor's webhook policy, in its default or CloudEvents format. */
    harbor(req: Request, res: Response): void {
      checkWebhookToken(req, deps.webhookToken, deps.logger)
      const format = harborFormat(req)
      const body = jsonBody(req)
      acceptPush(deps, res, `harbor-${format}`, shaped(() => parseHarborEvent(body, format)), 202)
    },

    /** Harbor's Kraken preheat driver. It treats 208 as an error and any other 2xx as done. */
    kraken(req: Request, res: Response): void {
      checkPreheatToken(req, deps.preheatToken, deps.logger)
      const body = jsonBody(req)
      acceptPush(deps, res, 'kraken', shaped(() => parseKrakenNotification(body)), 200)
    },
  }
}
