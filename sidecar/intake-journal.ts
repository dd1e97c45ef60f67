import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import { Digest, RepoName, type PushTarget } from '../lib/core/domain.js'
import type { Logger } from '../lib/core/logger.js'
import { safeJoin } from '../lib/core/safe-path.js'

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

/**
 * One small file per target under `<data-dir>/intake/`, written to a temp
 * name and renamed, so a file is whole or absent. Not fsynced: a killed or
 * crashed process loses nothing; only a power loss may lose the last
 * moments' targets.
 */
export class FileIntakeJournal implements IntakeJournal {
  private readonly dir: string

  constructor(dataDir: string, private readonly logger: Logger) {
    this.dir = safeJoin(dataDir, 'intake')
  }

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true })
    for (const n of await fs.readdir(this.dir)) if (n.endsWith('.tmp')) await fs.rm(safeJoin(this.dir, n), { force: true })
  }

  async add(targets: readonly PushTarget[]): Promise<void> {
    await Promise.all(targets.map(async (t) => {
      const file = safeJoin(this.dir, `${targetKey(t)}.json`)
      const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`
      await fs.writeFile(tmp, JSON.stringify({ kind: t.kind, repo: t.ref.repo.toString(), digest: t.ref.digest.toString() }))
      await fs.rename(tmp, file)
    }))
  }

  async done(target: PushTarget): Promise<void> {
    await fs.rm(safeJoin(this.dir, `${targetKey(target)}.json`), { force: true })
  }

  async pending(): Promise<PushTarget[]> {
    const out: PushTarget[] = []
    for (const n of await fs.readdir(this.dir)) {
      if (!n.endsWith('.json')) continue
      const file = safeJoin(this.dir, n)
      try {
        out.push(parseTarget(JSON.parse(await fs.readFile(file, 'utf8'))))
      } catch (err) {
        this.logger.warn({ file, err: (err as Error).message }, 'unreadable intake record dropped')
        await fs.rm(file, { force: true })
      }
    }
    return out
  }
}

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

function parseTarget(raw: unknown): PushTarget {
  const r = raw as { kind?: unknown; repo?: unknown; digest?: unknown }
  if (r.kind !== 'blob' && r.kind !== 'manifest') throw new Error(`kind ${JSON.stringify(r.kind)} is neither blob nor manifest`)
  return { kind: r.kind, ref: { repo: RepoName.parse(r.repo), digest: Digest.parse(r.digest) } }
}
