import type { Request, Response } from 'express'
import type { PushTarget } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import type { Logger } from '../lib/core/logger.js'
import { bearerMatches } from '../lib/http/middleware.js'
import type { PreseedQueue } from './preseed-queue.js'

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
}

/** The one way a push event is taken: its targets join the queue (and its journal), then the sender hears what became of them. */
export async function acceptPush(intake: Intake, res: Response, source: PushSource, parsed: ParsedPush, status: 200 | 202): Promise<void> {
  const { queued, duplicates } = await intake.queue.offer(parsed.targets)
  intake.logger.info({ source, targets: parsed.targets.length, queued, duplicates, ignored: parsed.ignored }, 'webhook accepted')
  res.status(status).json({ queued, duplicates, ignored: parsed.ignored })
}

/** A registry webhook's bearer token, when one is configured; the token is read per request, so a live edit applies. */
export function checkWebhookToken(req: Request, token: string | undefined): void {
  if (token !== undefined && !bearerMatches(req.get('authorization'), token)) throw new AppError('WEBHOOK_UNAUTHORIZED')
}

/**
 * Preheat endpoints hand the caller's credentials to the origin, so unlike the
 * webhook token this one is not optional: without it they refuse everyone.
 */
export function checkPreheatToken(req: Request, token: string | undefined): void {
  if (token === undefined) throw new AppError('PREHEAT_UNAUTHORIZED', 'preheat endpoints are disabled: no --preheat-token is configured')
  if (!bearerMatches(req.get('authorization'), token)) throw new AppError('PREHEAT_UNAUTHORIZED')
}

/** The media type of a request, without parameters, lower-cased. */
export function mediaType(req: Request): string {
  return (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase()
}
