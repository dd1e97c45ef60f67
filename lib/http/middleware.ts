import { timingSafeEqual, createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import express, { type NextFunction, type Request, type Response } from 'express'
import { DomainError } from '../core/domain.js'
import { AppError, errorBody } from '../core/errors.js'
import type { Logger } from '../core/logger.js'

/** Maps every error to a JSON body with a stable code; the only place that does. */
export function errorMiddleware(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = toAppError(err)
    // Only an unexpected error gets its stack in the log; a known one is a line an operator reads.
    if (e.code === 'INTERNAL') logger.error({ err, method: req.method, url: req.originalUrl }, e.message)
    else if (e.status === 503) logger.debug({ code: e.code, method: req.method, url: req.originalUrl }, e.message)
    else if (e.status >= 500) logger.warn({ code: e.code, method: req.method, url: req.originalUrl, err: e.message }, e.message)
    else logger.debug({ code: e.code, method: req.method, url: req.originalUrl }, e.message)
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (e.headers) res.set(e.headers)
    res.status(e.status).json(errorBody(e.code, e.message))
  }
}

/** What express's body readers throw (body-parser's `type`, `limit`, `status`). */
interface BodyReadError {
  readonly type: string
  readonly limit?: number
  readonly status?: number
}

const isBodyReadError = (err: unknown): err is BodyReadError => typeof (err as BodyReadError | undefined)?.type === 'string' && typeof (err as BodyReadError).status === 'number'

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err
  // Refused before a byte of it is parsed: Content-Length says so, or the count passes the limit.
  if (isBodyReadError(err) && err.type === 'entity.too.large') return new AppError('BODY_TOO_LARGE', `request body is over the ${err.limit ?? '?'}-byte limit`)
  if (err instanceof DomainError) return new AppError(err.code === 'NAME_INVALID' ? 'NAME_INVALID' : 'DIGEST_INVALID', err.message)
  return new AppError('INTERNAL', undefined, err)
}

export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`))
}

type Handler = (req: Request, res: Response) => Promise<void> | void

/** Sends a handler's thrown or rejected error to the error middleware. */
export const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction): void => {
  Promise.resolve(h(req, res)).catch(next)
}

/** A raw (express.raw) request body as JSON, or a 400 BAD_JSON. */
export function jsonBody(req: Request): unknown {
  try {
    return JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '')
  } catch (err) {
    throw new AppError('BAD_JSON', `body is not valid JSON: ${(err as Error).message}`)
  }
}

/** Compares secrets in constant time; hashing first hides the length too. */
export function secretEquals(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '')
  return m !== null && secretEquals(m[1].trim(), token)
}

/**
 * Writes with backpressure. Once the client is gone the chunk is dropped, not
 * thrown: a pull the client abandoned still completes and fills the cache.
 */
export async function writeChunk(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.destroyed || res.writableEnded) return
  // Wait only once a megabyte is queued, not after every chunk larger than the socket's 16 KiB mark.
  if (res.write(chunk) || res.writableLength < 1 << 20) return
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.once('drain', done)
    res.once('close', done)
  })
}

/**
 * Bounds the requests a route handles at once: past `max`, a request is
 * refused with 503 BUSY and `Retry-After` before its body is read, so a flood
 * costs little and the rest of the process stays responsive.
 */
export function inFlightLimit(max: () => number, retryAfterS = 1) {
  let n = 0
  return (_req: Request, res: Response, next: NextFunction): void => {
    if (n >= max()) return next(new AppError('BUSY', `${n} webhook requests are being handled; retry later`, undefined, { 'retry-after': String(retryAfterS) }))
    n++
    let released = false
    const release = () => {
      if (released) return
      released = true
      n--
    }
    res.once('finish', release)
    res.once('close', release)
    next()
  }
}

/**
 * The raw body, up to `limit` bytes. A Content-Length over it is refused
 * before a byte is read, and the connection is closed rather than drained, so
 * an oversized body costs nothing; a chunked one is cut off at the limit.
 */
export function rawBody(limit: number) {
  const read = express.raw({ type: () => true, limit })
  return (req: Request, res: Response, next: NextFunction): void => {
    const announced = Number(req.get('content-length'))
    if (announced > limit) return next(new AppError('BODY_TOO_LARGE', `request body is over the ${limit}-byte limit (Content-Length ${announced})`, undefined, { connection: 'close' }))
    read(req, res, next)
  }
}
