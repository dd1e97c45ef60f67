import { setTimeout as sleepTimer } from 'node:timers/promises'

/** Time as the process sees it. Injected so retries and stall timers can be driven by tests. */
export interface Clock {
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepTimer(ms, undefined, { signal }),
}
