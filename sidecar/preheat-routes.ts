import type { Request, Response } from 'express'
import { AppError } from '../lib/core/errors.js'
import type { Logger } from '../lib/core/logger.js'
import { jsonBody } from '../lib/http/middleware.js'
import { isObject, shaped, WebhookShapeError } from '../webhooks/shape.js'
import { preheatTargetOf, type PreheatJobs } from './preheat-jobs.js'

export interface PreheatRoutesDeps {
  readonly jobs: PreheatJobs
  readonly origin: string
  readonly logger: Logger
}

/** The url and the Authorization header of a Dragonfly preheat request. */
function readPreheatRequest(body: unknown): { url: string; authorization: string | undefined } {
  if (!isObject(body)) throw new WebhookShapeError('', 'body must be a JSON object')
  if (body.type !== 'preheat') throw new WebhookShapeError('type', 'must be "preheat"')
  const args = body.args
  if (!isObject(args)) throw new WebhookShapeError('args', 'must be an object')
  if (args.type !== 'image') throw new WebhookShapeError('args.type', 'must be "image"')
  if (typeof args.url !== 'string') throw new WebhookShapeError('args.url', 'must be a string')
  let authorization: string | undefined
  if (args.headers !== undefined && args.headers !== null) {
    if (!isObject(args.headers)) throw new WebhookShapeError('args.headers', 'must be an object')
    for (const [k, v] of Object.entries(args.headers)) {
      if (typeof v !== 'string') throw new WebhookShapeError(`args.headers.${k}`, 'must be a string')
      if (k.toLowerCase() === 'authorization') authorization = v
    }
  }
  return { url: args.url, authorization }
}

/** The Dragonfly manager endpoints Harbor's `dragonfly` preheat provider calls; the server mounts them behind the preheat token. */
export function preheatHandlers(deps: PreheatRoutesDeps) {
  return {
    async create(req: Request, res: Response): Promise<void> {
      const body = jsonBody(req)
      const { url, authorization } = shaped(() => readPreheatRequest(body))
      const target = preheatTargetOf(url, deps.origin)
      // Refused before a job exists, so a foreign URL is never fetched and Harbor shows the reason at once.
      if (!target) throw new AppError('PREHEAT_URL_INVALID', `args.url ${JSON.stringify(url)} is not <origin>/v2/<name>/manifests/<tag or digest> on the configured origin ${deps.origin}`)
      const job = await deps.jobs.create(target, authorization)
      deps.logger.info({ job: job.id, repo: target.repo.toString(), reference: target.reference }, 'preheat job created')
      res.json(job)
    },

    async get(req: Request, res: Response): Promise<void> {
      const id = /^\d{1,15}$/.test(req.params.id) ? Number(req.params.id) : NaN
      const job = Number.isSafeInteger(id) ? await deps.jobs.get(id) : undefined
      if (!job) throw new AppError('PREHEAT_JOB_UNKNOWN', `no preheat job ${JSON.stringify(req.params.id)}`)
      res.json(job)
    },

    /** Every job, newest first, with its progress: layerseed's own, for operators and `layerseed status`. */
    async list(_req: Request, res: Response): Promise<void> {
      res.json({ jobs: await deps.jobs.list() })
    },
  }
}
