import { randomUUID } from 'node:crypto'
import cron from 'node-cron'
import type { BlobCache } from './blob-cache.js'
import type { Logger } from '../core/logger.js'

/**
 * Runs the cache's reap on a cron schedule. The reap itself (and the clock it
 * reads) is the cache's; writes that would pass the bounds reap at once
 * without waiting for the schedule.
 */
export class Reaper {
  private task: { stop(): void } | undefined
  private name = ''

  constructor(
    private readonly cache: BlobCache,
    private readonly logger: Logger,
    schedule: string,
  ) {
    this.reschedule(schedule)
  }

  reschedule(schedule: string): void {
    this.stopTask()
    this.name = `layerseed-reaper-${randomUUID()}`
    this.task = cron.schedule(schedule, () => {
      this.cache.reap('schedule').catch((err: unknown) => this.logger.error({ err }, 'scheduled reap failed'))
    }, { name: this.name })
  }

  close(): void {
    this.stopTask()
  }

  private stopTask(): void {
    this.task?.stop()
    // node-cron keeps every task in a process-wide map; without this a closed reaper would stay there.
    cron.getTasks().delete(this.name)
    this.task = undefined
  }
}
