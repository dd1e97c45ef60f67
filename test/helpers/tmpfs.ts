import fs from 'node:fs/promises'
import { run } from '../../demo/process.js'

/** Mounts a tmpfs of `bytes` at dir (root only); the returned function unmounts it and is safe to call twice. */
export async function mountTmpfs(dir: string, bytes: number): Promise<() => Promise<void>> {
  await fs.mkdir(dir, { recursive: true })
  await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { timeoutMs: 10_000 })
  let mounted = true
  return async () => {
    if (!mounted) return
    mounted = false
    // Lazily when busy: a test that failed midway may still hold a file open there.
    await run('umount', [dir], { timeoutMs: 10_000 }).catch(() => run('umount', ['-l', dir], { timeoutMs: 10_000 }))
  }
}
