/**
 * A group's periodic look at the shared state (targets or jobs that members
 * gone left): run every `everyMs`, one run at a time, so a slow Redis never
 * piles runs up; `close` waits for the run in flight.
 */
export class Sweep {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined

  constructor(
    private readonly everyMs: number,
    private readonly run: () => Promise<void>,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.run().finally(() => {
        this.running = undefined
      })
    }, this.everyMs)
    this.timer.unref()
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.running
  }
}
