import type { Clock } from '../lib/core/clock.js'
import type { BlobRef, ManifestRef, PushTarget } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import type { Logger } from '../lib/core/logger.js'
import { isTransient, withRetry, type RetryPolicy } from '../lib/core/retry.js'
import type { RegistryClient } from '../lib/registry/client.js'
import type { BlobService } from './blob-service.js'
import { targetKey, type IntakeJournal } from './intake-journal.js'
import type { MemberClient } from './member-client.js'
import { alone, type BlobPlacement } from './placement.js'

export interface PreseedQueueDeps {
  readonly blobs: BlobService
  readonly origin: RegistryClient
  readonly journal: IntakeJournal
  readonly logger: Logger
  readonly clock: Clock
  readonly concurrency: number
  /** Targets held at once (queued, running or waiting to retry); past it, webhooks get 503. */
  readonly maxPending: number
  /** For manifests: the registry may notify before the manifest is readable, so a 404 is tried again for a short while. */
  readonly manifestRetry: RetryPolicy
  /** How long a target is tried again while the origin is unreachable or failing, and the waits between tries. */
  readonly outage: { readonly forMs: number; readonly firstDelayMs: number; readonly maxDelayMs: number }
  /** In a group: a blob target this sidecar does not hold goes to its owners (default: every blob is this sidecar's). */
  readonly placement?: BlobPlacement
  readonly members?: MemberClient
}

/** Seconds a refused sender is told to wait (distribution retries a failed notification on its own backoff anyway). */
const RETRY_AFTER_S = 5

// A pushed blob is in the registry before its notification is sent, and a
// manifest's 404 was tried again already: neither goes away by waiting. An
// unreachable or failing origin may.
const outageError = (err: unknown) => isTransient(err) && !(err instanceof AppError && err.code === 'BLOB_UNKNOWN')

/**
 * Work that pushes ask for, done in the background by a fixed number of
 * workers. Every accepted target is in the journal until it is done or failed
 * for good, so a restart resumes it; while the origin is down a target waits
 * and is tried again, with a doubling delay, for `outage.forMs`. A digest is
 * held at most once, and blobs already seeding are skipped.
 */
export class PreseedQueue {
  private readonly pending: PushTarget[] = []
  /** Targets held (pending, running or waiting), with when they were first tried and their next delay. */
  private readonly held = new Map<string, { firstTriedAt?: number; delayMs: number }>()
  private running = 0
  private waiting = 0
  private readonly stop = new AbortController()
  private idleWaiters: Array<() => void> = []
  private lastFullLog = -Infinity
  /** Targets another member handed over: taken here whatever this member's view of the owners, so none goes round in a circle. */
  private readonly forwarded = new Set<string>()

  constructor(private readonly deps: PreseedQueueDeps) {}

  /** Targets held now: queued, running, or waiting out an origin outage. */
  get size(): number {
    return this.pending.length + this.running + this.waiting
  }

  /**
   * Takes what a webhook asked for once it is in the journal. Throws
   * QUEUE_FULL, taking nothing, when the new work does not fit, so the sender
   * brings it back later.
   */
  async offer(targets: readonly PushTarget[], opts: { forwarded?: boolean } = {}): Promise<{ queued: number; duplicates: number }> {
    const fresh = this.dedupe(targets)
    if (this.held.size + fresh.length > this.deps.maxPending) {
      const now = this.deps.clock.now()
      if (now - this.lastFullLog > 60_000) {
        this.lastFullLog = now
        this.deps.logger.warn({ held: this.held.size, max: this.deps.maxPending }, 'pre-seed queue full; webhooks get 503 until it drains')
      }
      throw new AppError('QUEUE_FULL', `pre-seed queue holds ${this.held.size} of ${this.deps.maxPending} targets`, undefined, { 'retry-after': String(RETRY_AFTER_S) })
    }
    for (const t of fresh) this.held.set(targetKey(t), { delayMs: this.deps.outage.firstDelayMs })
    if (opts.forwarded) for (const t of fresh) this.forwarded.add(targetKey(t))
    try {
      await this.deps.journal.add(fresh)
    } catch (err) {
      for (const t of fresh) this.held.delete(targetKey(t))
      throw err
    }
    for (const t of fresh) this.enqueue(t)
    return { queued: fresh.length, duplicates: targets.length - fresh.length }
  }

  /** Queues what the journal holds from an earlier run; resolves with how many. */
  async resume(): Promise<number> {
    const targets = this.dedupe(await this.deps.journal.pending())
    for (const t of targets) {
      this.held.set(targetKey(t), { delayMs: this.deps.outage.firstDelayMs })
      this.enqueue(t)
    }
    if (targets.length > 0) this.deps.logger.info({ targets: targets.length }, 'resuming pre-seed targets accepted before a restart')
    return targets.length
  }

  /** Resolves when nothing is held; for tests and orderly shutdown. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Stops taking work; what is in the journal stays for the next start. */
  close(): void {
    this.stop.abort()
    this.pending.length = 0
  }

  private dedupe(targets: readonly PushTarget[]): PushTarget[] {
    const seen = new Set<string>()
    return targets.filter((t) => {
      const k = targetKey(t)
      if (seen.has(k) || this.held.has(k)) return false
      if (t.kind === 'blob' && this.deps.blobs.isSeeding(t.ref.digest)) return false
      seen.add(k)
      return true
    })
  }

  private enqueue(t: PushTarget): void {
    this.pending.push(t)
    this.pump()
  }

  private pump(): void {
    while (!this.stop.signal.aborted && this.running < this.deps.concurrency && this.pending.length > 0) {
      const t = this.pending.shift()!
      this.running++
      void this.runOne(t).finally(() => {
        this.running--
        this.pump()
        this.settle()
      })
    }
  }

  private settle(): void {
    if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w()
  }

  private async runOne(t: PushTarget): Promise<void> {
    const key = targetKey(t)
    const state = this.held.get(key) ?? { delayMs: this.deps.outage.firstDelayMs }
    state.firstTriedAt ??= this.deps.clock.now()
    const log = { target: t.kind, digest: t.ref.digest.toString(), repo: t.ref.repo.toString() }
    try {
      if (t.kind === 'blob') await this.blob(t, key)
      else await this.expand(t.ref)
    } catch (err) {
      if (this.stop.signal.aborted) return
      const message = (err as Error).message
      if (outageError(err) && this.deps.clock.now() - state.firstTriedAt < this.deps.outage.forMs) {
        this.deps.logger.warn({ ...log, err: message, retryInMs: state.delayMs }, 'pre-seed target waits for the origin')
        this.retryLater(t, state)
        return
      }
      this.deps.logger.warn({ ...log, err: message }, 'pre-seed target failed for good')
    }
    this.held.delete(key)
    this.forwarded.delete(key)
    await this.deps.journal.done(t).catch((err: unknown) => this.deps.logger.warn({ ...log, err: (err as Error).message }, 'could not clear an intake record'))
  }

  /**
   * Hands a blob to every owner but this sidecar, and seeds it here if this
   * sidecar is an owner too or no owner took it. Each owner must hold it (a
   * later owner reads it from an earlier one, not from the origin), so a
   * target is never handed to the first owner alone.
   */
  private async blob(t: PushTarget & { kind: 'blob' }, key: string): Promise<void> {
    const placement = this.deps.placement ?? alone
    if (this.forwarded.has(key) || !this.deps.members) {
      await this.deps.blobs.ensure(t.ref)
      return
    }
    let taken = 0
    for (const url of placement.forwardTo(t.ref.digest)) {
      try {
        await this.deps.members.forward(url, [t])
        taken++
        this.deps.logger.debug({ digest: t.ref.digest.toString(), owner: url }, 'pre-seed target handed to its owner')
      } catch (err) {
        this.deps.logger.warn({ digest: t.ref.digest.toString(), owner: url, err: (err as Error).message }, 'owner did not take a pre-seed target')
      }
    }
    if (placement.holds(t.ref.digest) || taken === 0) await this.deps.blobs.ensure(t.ref)
  }

  private retryLater(t: PushTarget, state: { delayMs: number }): void {
    const delay = state.delayMs
    state.delayMs = Math.min(delay * 2, this.deps.outage.maxDelayMs)
    this.waiting++
    this.deps.clock.sleep(delay, this.stop.signal).then(
      () => {
        this.waiting--
        this.enqueue(t)
      },
      () => {
        this.waiting--
        this.settle()
      },
    )
  }

  /** Reads a manifest (and an index's children) and takes every blob it names, in the journal before the manifest leaves it. */
  private async expand(ref: ManifestRef): Promise<void> {
    const m = await withRetry(this.deps.manifestRetry, this.deps.clock, () => this.deps.origin.getManifest(ref.repo, ref.digest), (err) => err instanceof AppError && err.code === 'BLOB_UNKNOWN')
    if (m.kind === 'index') {
      for (const child of m.manifests) await this.expand({ repo: ref.repo, digest: child.digest })
      return
    }
    const blobs = this.dedupe(m.blobs.map((d): PushTarget => ({ kind: 'blob', ref: { repo: ref.repo, digest: d.digest } as BlobRef })))
    for (const t of blobs) this.held.set(targetKey(t), { delayMs: this.deps.outage.firstDelayMs })
    await this.deps.journal.add(blobs)
    for (const t of blobs) this.enqueue(t)
  }
}
