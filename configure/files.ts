import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { safeJoin } from '../lib/core/safe-path.js'

export interface Written {
  readonly path: string
  /** Where the file it replaced was kept, if there was one that differed. */
  readonly backup?: string
  readonly unchanged: boolean
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** The directory, or its nearest ancestor that exists: where a mkdir would start creating. */
async function existingAncestor(dir: string): Promise<string> {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      await fs.stat(d)
      return d
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || d === path.dirname(d)) throw err
    }
  }
}

/** Refuses a directory that a symlink leads out of root, before anything is created: the join alone only checks the names. */
async function checkInside(root: string, dir: string): Promise<void> {
  const [realRoot, realDir] = await Promise.all([fs.realpath(root), existingAncestor(dir).then((d) => fs.realpath(d))])
  const rel = path.relative(realRoot, realDir)
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw new Error(`${dir} leads outside --root ${root} (through a symlink)`)
}

/**
 * Writes rel under root: the old file, if it differs, is copied to
 * `<file>.bak-<time>` first, and the new content goes to a temp file in the
 * same directory that is renamed over it, so the runtime never reads half a file.
 */
export async function writeUnder(root: string, rel: string, content: (existing: string | undefined) => string, now: Date): Promise<Written> {
  const file = safeJoin(root, rel)
  await fs.mkdir(root, { recursive: true })
  await checkInside(root, path.dirname(file))
  await fs.mkdir(path.dirname(file), { recursive: true })
  const existing = await readIfThere(file)
  const next = content(existing)
  if (existing === next) return { path: file, unchanged: true }
  let backup: string | undefined
  if (existing !== undefined) {
    backup = `${file}.bak-${now.toISOString().replace(/[:.]/g, '-')}`
    await fs.copyFile(file, backup, fs.constants.COPYFILE_EXCL)
  }
  const mode = existing === undefined ? 0o644 : (await fs.stat(file)).mode & 0o777
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`
  try {
    const handle = await fs.open(tmp, 'wx', mode)
    try {
      await handle.writeFile(next)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(tmp, file)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  }
  return { path: file, backup, unchanged: false }
}
