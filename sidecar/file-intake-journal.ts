import fs, { type FileHandle } from 'node:fs/promises'
import type { PushTarget } from '../lib/core/domain.js'
import type { Logger } from '../lib/core/logger.js'
import { safeJoin } from '../lib/core/safe-path.js'
import { parseTarget, targetKey, targetRecord, type IntakeJournal } from './intake-journal.js'

/** Lines past which the file is rewritten with only what is held, as a multiple of what is held. */
const COMPACT_RATIO = 4
const COMPACT_MIN_LINES = 10_000

/**
 * An append-only file, `<data-dir>/intake.journal`: `+ <target JSON>` when a
 * target is taken, `- <key>` when it is done. Writes that come while one is
 * under way go out together in the next, so a flood of webhooks costs one
 * append per batch, not files per target. At start, and whenever the file
 * has grown well past what it holds, it is rewritten to a temp name and
 * renamed, so it is whole or the old one. Not fsynced: a killed or crashed
 * process loses nothing; only a power loss may lose the last moments' lines.
 */
export class FileIntakeJournal implements IntakeJournal {
  private readonly file: string
  private readonly held = new Map<string, PushTarget>()
  private fh: FileHandle | undefined
  private lines = 0
  private queued: string[] = []
  private flushing: Promise<void> | undefined

  constructor(dataDir: string, private readonly logger: Logger) {
    this.file = safeJoin(dataDir, 'intake.journal')
  }

  /** Reads what an earlier run left, and opens the file for appending. */
  async init(): Promise<void> {
    let text = ''
    try {
      text = await fs.readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    for (const line of text.split('\n')) this.replay(line)
    await this.rewrite()
  }

  add(targets: readonly PushTarget[]): Promise<void> {
    if (targets.length === 0) return Promise.resolve()
    for (const t of targets) this.held.set(targetKey(t), t)
    return this.append(targets.map((t) => `+ ${JSON.stringify(targetRecord(t))}`))
  }

  done(target: PushTarget): Promise<void> {
    const key = targetKey(target)
    if (!this.held.delete(key)) return Promise.resolve()
    return this.append([`- ${key}`])
  }

  pending(): Promise<PushTarget[]> {
    return Promise.resolve([...this.held.values()])
  }

  async close(): Promise<void> {
    await this.flushing
    await this.fh?.close()
    this.fh = undefined
  }

  private replay(line: string): void {
    if (line.startsWith('- ')) this.held.delete(line.slice(2).trim())
    if (!line.startsWith('+ ')) return
    try {
      const t = parseTarget(JSON.parse(line.slice(2)))
      this.held.set(targetKey(t), t)
    } catch (err) {
      this.logger.warn({ file: this.file, err: (err as Error).message }, 'unreadable intake record dropped')
    }
  }

  /** Resolves once `lines` are in the file. */
  private append(lines: string[]): Promise<void> {
    this.queued.push(...lines)
    this.flushing ??= this.flush().finally(() => {
      this.flushing = undefined
    })
    return this.flushing
  }

  private async flush(): Promise<void> {
    // Bounded by the writers: each turn writes what queued meanwhile, and stops when nothing did.
    while (this.queued.length > 0) {
      const batch = this.queued
      this.queued = []
      if (!this.fh) throw new Error('the intake journal is closed')
      await this.fh.appendFile(`${batch.join('\n')}\n`)
      this.lines += batch.length
      if (this.lines > Math.max(COMPACT_MIN_LINES, COMPACT_RATIO * this.held.size)) await this.rewrite()
    }
  }

  /** The file anew with only what is held. */
  private async rewrite(): Promise<void> {
    const tmp = `${this.file}.tmp`
    const body = [...this.held.values()].map((t) => `+ ${JSON.stringify(targetRecord(t))}\n`).join('')
    await fs.writeFile(tmp, body)
    await fs.rename(tmp, this.file)
    await this.fh?.close()
    this.fh = await fs.open(this.file, 'a')
    this.lines = this.held.size
  }
}
