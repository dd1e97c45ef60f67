import type { Logger } from './logger.js'

/**
 * What a process must undo, in the reverse of the order it was built. A
 * composition root pushes each part's close as soon as the part exists, so a
 * start that fails halfway closes what it had built, and a stop closes
 * everything once. A close that fails is logged and the rest still close.
 */
export class CloseStack {
  private readonly steps: Array<{ name: string; close: () => unknown }> = []
  private closing: Promise<void> | undefined

  constructor(private readonly logger: Logger) {}

  push(name: string, close: () => unknown): void {
    this.steps.push({ name, close })
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Bounded by the steps pushed: each turn removes one.
      for (let s = this.steps.pop(); s; s = this.steps.pop()) {
        try {
          await s.close()
        } catch (err) {
          this.logger.warn({ err, part: s.name }, 'closing a part failed')
        }
      }
    })()
    return this.closing
  }

  /** Runs the build; if it throws, closes what it had pushed and rethrows. */
  async build<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      await this.close()
      throw err
    }
  }
}
