import chokidar, { type FSWatcher } from 'chokidar'
import { ConfigError, deepFreeze, flagOf, type Loaded, type Problem } from './index.js'
import type { Live } from '../lib/core/live.js'
import type { Logger } from '../lib/core/logger.js'

export interface ReloadOutcome {
  /** Fields that changed and took effect. */
  readonly applied: readonly string[]
  /** Fields that changed but take effect only after a restart. */
  readonly needRestart: readonly string[]
  /** Set when the new configuration was refused as a whole. */
  readonly problems?: readonly Problem[]
}

export interface LiveConfigOptions<T> {
  readonly initial: T
  /** Fields a running process takes from an edited file; any other change needs a restart. */
  readonly liveFields: ReadonlyArray<keyof T>
  /** Reads and validates the whole configuration again (flags over the file); throws ConfigError. */
  readonly reload?: () => T
  readonly logger: Logger
}

type Listener<T> = { fields: ReadonlyArray<keyof T>; fn: (next: T, prev: T) => void }

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/**
 * The running configuration, which a watched --config file may change. Each
 * snapshot is frozen; a part that must follow a live field subscribes to it
 * (or reads `current` when it acts) instead of keeping the value. A file that
 * fails validation changes nothing.
 */
export class LiveConfig<T extends object> implements Live<T> {
  private snapshot: T
  private readonly listeners = new Set<Listener<T>>()
  private watcher: FSWatcher | undefined

  constructor(private readonly opts: LiveConfigOptions<T>) {
    this.snapshot = opts.initial
  }

  /** A configuration that never changes, for a process started without --config. */
  static fixed<C extends object>(config: C, logger: Logger): LiveConfig<C> {
    return new LiveConfig({ initial: config, liveFields: [], logger })
  }

  get current(): T {
    return this.snapshot
  }

  /** Calls fn with the new and the old snapshot whenever one of `fields` changes; returns the unsubscribe function. */
  subscribe<K extends keyof T>(fields: readonly K[], fn: (next: T, prev: T) => void): () => void {
    const l: Listener<T> = { fields, fn }
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }

  /** Reads the configuration again and applies what may change live. */
  reloadNow(): ReloadOutcome {
    const log = this.opts.logger
    if (!this.opts.reload) return { applied: [], needRestart: [] }
    let next: T
    try {
      next = this.opts.reload()
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [{ key: '--config', message: (err as Error).message }]
      log.error({ problems }, `config file rejected (${problems.map((p) => p.key).join(', ')}); the running configuration stays`)
      return { applied: [], needRestart: [], problems }
    }
    const prev = this.snapshot
    const changed = (Object.keys({ ...prev, ...next }) as Array<keyof T>).filter((k) => !same(prev[k], next[k]))
    const applied = changed.filter((k) => this.opts.liveFields.includes(k))
    const needRestart = changed.filter((k) => !this.opts.liveFields.includes(k)).map((k) => flagOf(String(k)))
    if (needRestart.length > 0) log.warn({ keys: needRestart }, `changed in the config file, but take effect only after a restart: ${needRestart.join(', ')}`)
    if (applied.length > 0) {
      const merged = { ...prev } as Record<keyof T, unknown>
      for (const k of applied) merged[k] = next[k]
      this.snapshot = deepFreeze(merged) as T
      log.info({ keys: applied.map((k) => flagOf(String(k))) }, 'configuration changed live')
      for (const l of this.listeners) {
        if (!l.fields.some((f) => applied.includes(f))) continue
        try {
          l.fn(this.snapshot, prev)
        } catch (err) {
          log.error({ err }, 'applying a configuration change failed')
        }
      }
    }
    return { applied: applied.map(String), needRestart }
  }

  /** Watches the file and reloads on every change; resolves once the watch is set up. */
  async watch(file: string): Promise<void> {
    const w = chokidar.watch(file, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 150, pollInterval: 50 } })
    this.watcher = w
    w.on('add', () => this.reloadNow())
    w.on('change', () => this.reloadNow())
    w.on('unlink', () => this.opts.logger.warn({ file }, 'config file removed; the running configuration stays'))
    w.on('error', (err) => this.opts.logger.error({ err, file }, 'watching the config file failed'))
    await new Promise<void>((resolve) => w.once('ready', () => resolve()))
    this.opts.logger.info({ file }, 'watching the config file for changes')
  }

  async close(): Promise<void> {
    this.listeners.clear()
    await this.watcher?.close()
  }
}

/**
 * The live config of a process whose flags were just loaded: with --config,
 * the file is watched and read again (with the same flags) on each change.
 */
export async function watchedConfig<T extends object>(loaded: Loaded<T>, reload: () => T | undefined, liveFields: ReadonlyArray<keyof T>, logger: Logger): Promise<LiveConfig<T>> {
  if (!loaded.config) throw new Error('no configuration was loaded')
  const live = new LiveConfig({
    initial: loaded.config,
    liveFields,
    logger: logger.child({ part: 'config' }),
    reload: () => {
      const next = reload()
      if (!next) throw new Error('the configuration could not be read')
      return next
    },
  })
  if (loaded.configFile) await live.watch(loaded.configFile)
  return live
}
