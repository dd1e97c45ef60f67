import chokidar, { type FSWatcher } from 'chokidar'
import type { Live } from '../core/live.js'
import type { Logger } from '../core/logger.js'
import { readKeySet, type KeySet } from './keys.js'

/** What follows the key files: the verifier's `reload`. */
export interface KeyReloader {
  reload(keys: KeySet): void
}

/** The config fields that name the token signing key files. */
export interface KeyFileFields {
  readonly authRootCerts?: string
  readonly authJwks?: string
}

export interface LiveKeysOptions<T extends KeyFileFields> {
  readonly live: Live<T>
  readonly verifier: KeyReloader
  readonly logger: Logger
  /** How often the key files are checked. Polled, because a mounted secret (Harbor's root.crt in Kubernetes) is swapped by a symlink that file events miss. */
  readonly pollMs?: number
}

const filesOf = (c: KeyFileFields): string[] => [c.authRootCerts, c.authJwks].filter((f): f is string => f !== undefined)

/**
 * Keeps a verifier's keys in step with the key files, without a restart: when
 * an edited --config names other files, and when the files themselves are
 * rewritten (a rotated token certificate). A set that does not read or parse
 * changes nothing: the log names the option and the running keys stay.
 * Returns the function that stops following.
 */
export async function followKeyFiles<T extends KeyFileFields>(o: LiveKeysOptions<T>): Promise<() => Promise<void>> {
  const log = o.logger
  let watched = filesOf(o.live.current)
  const reload = (why: string) => {
    const c = o.live.current
    let keys: KeySet
    try {
      keys = readKeySet({ rootCerts: c.authRootCerts, jwks: c.authJwks })
    } catch (err) {
      const message = (err as Error).message
      const key = c.authJwks !== undefined && message.includes(c.authJwks) ? 'auth-jwks' : 'auth-root-certs'
      log.error({ key, err: message }, `token signing keys not reloaded (${key}); the running keys stay`)
      return
    }
    o.verifier.reload(keys)
    log.info({ why, kids: keys.kids().length, roots: keys.roots.length }, 'token signing keys reloaded')
  }
  const watcher: FSWatcher = chokidar.watch(watched, { ignoreInitial: true, usePolling: true, interval: o.pollMs ?? 2000 })
  watcher.on('change', () => reload('a key file changed'))
  watcher.on('add', () => reload('a key file appeared'))
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()))
  const unsubscribe = o.live.subscribe(['authRootCerts', 'authJwks'], (next) => {
    const files = filesOf(next)
    watcher.unwatch(watched.filter((f) => !files.includes(f)))
    watcher.add(files.filter((f) => !watched.includes(f)))
    watched = files
    reload('the config names other key files')
  })
  return async () => {
    unsubscribe()
    await watcher.close()
  }
}
