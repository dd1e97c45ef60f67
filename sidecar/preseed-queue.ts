import type { Clock } from '../lib/core/clock.js'
import type { BlobRef, ManifestRef, PushTarget } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import type { Logger } from '../lib/core/logger.js'
import type { RegistryClient } from '../lib/registry/client.js'
import { withRetry, type RetryPolicy } from '../lib/core/retry.js'
import type { BlobService } from './blob-service.js'

export interface PreseedQueueDeps {
  readonly blobs: BlobService
  readonly origin: RegistryClient
  readonly logger: Logger
  readonly clock: Clock
  readonly concurrency: number
  readonly maxPending: number
  /** For manifests: the registry may notify before the manifest is readable. */
  readonly manifestRetry: RetryPolicy
}

function keyOf(t: PushTarget): string {
  return `${t.kind}:${t.ref.digest.hex}`
}

/**
 * Work that pushes ask for, done in the background by a fixed number of
 * workers. A digest is queued at most once while it is pending or running, and
 * blobs already seeding are skipped.
 */
export class PreseedQueue {
  private readonly pending: PushTarget[] = []
  private readonly known = new Set<string>()
  private running = 0
  private closed = false
  private idleWaiters: Array<() => void> = []

  constructor(private readonly deps: PreseedQueueDeps) {}

  get size(): number {
    return this.pending.length + this.running
  }

  /**
   * Queues what a webhook asked for. Throws QUEUE_FULL, queuing nothing, when
   * the new work does not fit, so the registry's retry brings it back later.
   */
  offer(targets: readonly PushTarget[]): { queued: number; duplicates: number } {
    const fresh = this.dedupe(targets)
    if (this.pending.length + fresh.length > this.deps.maxPending) {
      throw new AppError('QUEUE_FULL', `pre-seed queue holds ${this.pending.length} of ${this.deps.maxPending} jobs`)
    }
    for (const t of fresh) this.enqueue(t)
    return { queued: fresh.length, duplicates: targets.length - fresh.length }
  }

  /** Resolves when nothing is pending or running; for tests and orderly shutdown. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  close(): void {
    this.closed = true
    this.pending.length = 0
  }

  private dedupe(targets: readonly PushTarget[]): PushTarget[] {
    const seen = new Set<string>()
    return targets.filter((t) => {
      const k = keyOf(t)
      if (seen.has(k) || this.known.has(k)) return false
      if (t.kind === 'blob' && this.deps.blobs.isSeeding(t.ref.digest)) return false
      seen.add(k)
      return true
    })
  }

  private enqueue(t: PushTarget): void {
    this.known.add(keyOf(t))
    this.pending.push(t)
    this.pump()
  }

  private pump(): void {
    while (!this.closed && this.running < this.deps.concurrency && this.pending.length > 0) {
      const t = this.pending.shift()!
      this.running++
      void this.runOne(t).finally(() => {
        this.running--
        this.known.delete(keyOf(t))
        this.pump()
        if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w()
      })
    }
  }

  private async runOne(t: PushTarget): Promise<void> {
    try {
      if (t.kind === 'blob') await this.deps.blobs.ensure(t.ref)
      else await this.expand(t.ref)
    } catch (err) {
      this.deps.logger.warn({ target: t.kind, digest: t.ref.digest.toString(), err: (err as Error).message }, 'pre-seed job failed')
    }
  }

  /** Reads a manifest (and an index's children) and queues every blob it names. */
  private async expand(ref: ManifestRef): Promise<void> {
    const m = await withRetry(this.deps.manifestRetry, this.deps.clock, () => this.deps.origin.getManifest(ref.repo, ref.digest))
    if (m.kind === 'index') {
      for (const child of m.manifests) await this.expand({ repo: ref.repo, digest: child.digest })
      return
    }
    const blobs: PushTarget[] = m.blobs.map((d) => ({ kind: 'blob', ref: { repo: ref.repo, digest: d.digest } as BlobRef }))
    for (const t of this.dedupe(blobs)) this.enqueue(t)
  }
}
