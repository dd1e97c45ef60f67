import type { Readable } from 'node:stream'

export class StallError extends Error {
  constructor(readonly ms: number) {
    super(`no progress for ${ms} ms`)
    this.name = 'StallError'
  }
}

/** Yields a stream's chunks, throwing StallError when none arrives within `ms`. */
export async function* withStallTimeout(stream: Readable, ms: number): AsyncGenerator<Buffer> {
  const it = stream[Symbol.asyncIterator]()
  for (;;) {
    let timer: NodeJS.Timeout | undefined
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StallError(ms)), ms)
    })
    let r: IteratorResult<unknown>
    try {
      r = await Promise.race([it.next(), stalled])
    } finally {
      // Cleared before yielding: time the consumer spends (a slow client) is not a stall.
      clearTimeout(timer)
    }
    if (r.done) return
    yield r.value as Buffer
  }
}
