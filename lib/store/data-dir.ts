import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import { StartError } from '../core/errors.js'
import { safeJoin } from '../core/safe-path.js'

/**
 * Makes the data dir if it is missing and proves it writable, before any part
 * is built: a process that cannot keep blobs stops at start with one line,
 * instead of failing each pull later.
 */
export async function prepareDataDir(option: string, dir: string): Promise<void> {
  const probe = safeJoin(dir, `.write-probe-${randomBytes(4).toString('hex')}`)
  try {
    await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(probe, '')
    await fs.rm(probe)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new StartError(`${option} ${dir}: not writable (${e.code ?? e.message})`, { cause: err })
  }
}
