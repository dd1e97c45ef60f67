import type { Clock } from './clock.js'
import { AppError } from './errors.js'

export interface RetryPolicy {
  readonly attempts: number
  readonly firstDelayMs: number
  readonly maxDelayMs: number
}

/** Errors worth another try: the origin was unreachable, or said not-found/5xx (it may be mid-write or restarting). */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof AppError)) return false
  if (err.code === 'UPSTREAM_ERROR') return err.status >= 500 || err.status === 429
  return ['UPSTREAM_UNREACHABLE', 'BLOB_UNKNOWN', 'BLOB_FETCH_FAILED'].includes(err.code)
}

/** Runs fn until it succeeds, a non-transient error, or the attempts run out; the delay doubles each time. */
export async function withRetry<T>(
  policy: RetryPolicy,
  clock: Clock,
  fn: (attempt: number) => Promise<T>,
  retryable: (err: unknown) => boolean = isTransient,
): Promise<T> {
  let delay = policy.firstDelayMs
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (attempt >= policy.attempts || !retryable(err)) throw err
      await clock.sleep(delay)
      delay = Math.min(delay * 2, policy.maxDelayMs)
    }
  }
}
