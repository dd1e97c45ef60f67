import type { Clock } from '../../lib/core/clock.js'

/** A clock the test moves by hand. */
export function fakeClock(start = Date.now()): Clock & { advance(ms: number): void } {
  let t = start
  return {
    now: () => t,
    sleep: () => Promise.resolve(),
    advance(ms: number) {
      t += ms
    },
  }
}
