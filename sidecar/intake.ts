import type { Request, Response } from 'express'
import type { PushTarget } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import type { Logger } from '../lib/core/logger.js'
import { bearerMatches } from '../lib/http/middleware.js'
import type { PreseedQueue } from './preseed-queue.js'
import type { SidecarMeter, WebhookSource } from './metrics.js'

/** What a push payload of any source yields: what to fetch, and how many events were not for us. */
export interface ParsedPush {
  readonly targets: readonly PushTarget[]
  readonly ignored: number
}

/** Where a push event came from, for the logs and the answer. */
export type PushSource = 'distribution' | 'harbor-default' | 'harbor-cloudevents' | 'kraken'

export interface Intake {
  readonly queue: PreseedQueue
  readonly logger: Logger
  readonly meter?: Pick<SidecarMeter, 'webhook'>
}

/** The metrics' source label: one per sender, whatever its format. */
export function sourceLabel(source: PushSource): WebhookSource {
  return source === 'kraken' ? 'kraken' : source === 'distribution' ? 'distribution' : 'harbor'
}

/** The one way a push event is taken: its targets join the queue (and its journal), then the sender hears what became of them. */
export async function acceptPush(intake: Intake, res: Response, source: PushSource, parsed: ParsedPush, status: 200 | 202): Promise<void> {
  const { queued, duplicates } = await intake.queue.offer(parsed.targets)
  const label = sourceLabel(source)
  intake.meter?.webhook(label, 'queued', queued)
  intake.meter?.webhook(label, 'duplicate', duplicates)
  intake.meter?.webhook(label, 'ignored', parsed.ignored)
  intake.logger.info({ source, targets: parsed.targets.length, queued, duplicates, ignored: parsed.ignored }, 'webhook accepted')
  res.status(status).json({ queued, duplicates, ignored: parsed.ignored })
}

/** Why a bearer check failed; never the token itself, which may be a near miss of the real one. */
type Refusal = 'no Authorization header' | 'not a Bearer token' | 'wrong token' | 'no --preheat-token configured'

function refusalOf(header: string | undefined, token: string): Refusal | undefined {
  if (header === undefined || header.trim() === '') return 'no Authorization header'
  if (!/^Bearer\s+\S/i.test(header)) return 'not a Bearer token'
  return bearerMatches(header, token) ? undefined : 'wrong token'
}

/** A refused caller is logged at warn, so a misconfigured registry or a probe shows in the logs. */
function refuse(req: Request, logger: Logger, check: Refusal, code: 'WEBHOOK_UNAUTHORIZED' | 'PREHEAT_UNAUTHORIZED', message?: string): never {
  logger.warn({ remote: req.socket.remoteAddress, path: req.path, check }, 'request refused: bearer token check failed')
  throw new AppError(code, message)
}

/** A registry webhook's bearer token, when one is configured; the token is read per request, so a live edit applies. */
export function checkWebhookToken(req: Request, token: string | undefined, logger: Logger): void {
  if (token === undefined) return
  const refusal = refusalOf(req.get('authorization'), token)
  if (refusal) refuse(req, logger, refusal, 'WEBHOOK_UNAUTHORIZED')
}

/**
 * Preheat endpoints hand the caller's credentials to the origin, so unlike the
 * webhook token this one is not optional: without it they refuse everyone.
 */
export function checkPreheatToken(req: Request, token: string | undefined, logger: Logger): void {
  if (token === undefined) refuse(req, logger, 'no --preheat-token configured', 'PREHEAT_UNAUTHORIZED', 'preheat endpoints are disabled: no --preheat-token is configured')
  const refusal = refusalOf(req.get('authorization'), token)
  if (refusal) refuse(req, logger, refusal, 'PREHEAT_UNAUTHORIZED')
}

/** The media type of a request, without parameters, lower-cased. */
export function mediaType(req: Request): string {
  return (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase()
}
