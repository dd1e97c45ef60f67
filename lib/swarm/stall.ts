import type { Readable } from 'node:stream'

export class StallError extends Error {
  constructor(readonly ms: number) {
    super(`no progress for ${ms} ms`)
    this.name = 'StallError'
  }
}

/**
 * Yields a stream's chunks, throwing StallError when nothing happened for `ms`.
 * "Something" is a chunk, or whatever `lastActivity` reports: a swarm that
 * fetches pieces out of order is progressing even while the in-order stream
 * waits for its next piece.
 */
export async function* withStallTimeout(stream: Readable, ms: number, now: () => number, lastActivity: () => number = () => 0): AsyncGenerator<Buffer> {
  const it = stream[Symbol.asyncIterator]()
  let lastChunk = now()
  for (;;) {
    let timer: NodeJS.Timeout | undefined
    const stalled = new Promise<never>((_, reject) => {
      const check = () => {
        const idle = now() - Math.max(lastChunk, lastActivity())
        if (idle >= ms) reject(new StallError(ms))
        else timer = setTimeout(check, Math.min(ms - idle, 250))
      }
      timer = setTimeout(check, Math.min(ms, 250))
    })
    let r: IteratorResult<unknown>
    try {
      r = await Promise.race([it.next(), stalled])
    } finally {
      // Cleared before yielding: time the consumer spends (a slow client) is not a stall.
      clearTimeout(timer)
    }
    if (r.done) return
    lastChunk = now()
    yield r.value as Buffer
  }
}
