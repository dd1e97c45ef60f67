import { Digest, RepoName, type PushTarget } from '../lib/core/domain.js'

/**
 * The push targets a sidecar accepted and has not finished: a webhook's 202
 * is given only once its targets are here, so a restart or an origin outage
 * loses none of them.
 *
 * Contract: `add` resolves once the targets survive a restart of the
 * process; adding one twice keeps one. `done` of a target not held is a
 * no-op. `pending` lists what was added and not done, in any order. Safe for
 * concurrent use.
 */
export interface IntakeJournal {
  add(targets: readonly PushTarget[]): Promise<void>
  done(target: PushTarget): Promise<void>
  pending(): Promise<PushTarget[]>
}

export const targetKey = (t: PushTarget): string => `${t.kind}-${t.ref.digest.hex}`

/** In memory, for tests and for parts that need no restart safety. */
export class MemoryIntakeJournal implements IntakeJournal {
  private readonly held = new Map<string, PushTarget>()

  add(targets: readonly PushTarget[]): Promise<void> {
    for (const t of targets) this.held.set(targetKey(t), t)
    return Promise.resolve()
  }

  done(target: PushTarget): Promise<void> {
    this.held.delete(targetKey(target))
    return Promise.resolve()
  }

  pending(): Promise<PushTarget[]> {
    return Promise.resolve([...this.held.values()])
  }
}

/** A target as a journal keeps it, and back; what comes back is parsed like any input. */
export function targetRecord(t: PushTarget): { kind: string; repo: string; digest: string } {
  return { kind: t.kind, repo: t.ref.repo.toString(), digest: t.ref.digest.toString() }
}

export function parseTarget(raw: unknown): PushTarget {
  const r = raw as { kind?: unknown; repo?: unknown; digest?: unknown }
  if (r.kind !== 'blob' && r.kind !== 'manifest') throw new Error(`kind ${JSON.stringify(r.kind)} is neither blob nor manifest`)
  return { kind: r.kind, ref: { repo: RepoName.parse(r.repo), digest: Digest.parse(r.digest) } }
}
