import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import type { CacheStatus } from '../../lib/cache/blob-cache.js'

/** GETs a URL and answers its status and the sha256 hex of its body, streamed. */
export async function fetchSha(url: string): Promise<{ status: number; sha: string; bytes: number }> {
  const res = await fetch(url)
  const h = createHash('sha256')
  let bytes = 0
  for await (const c of res.body ?? []) {
    h.update(c as Uint8Array)
    bytes += (c as Uint8Array).length
  }
  return { status: res.status, sha: h.digest('hex'), bytes }
}

export async function cacheStatus(base: string): Promise<CacheStatus> {
  const res = await fetch(`${base}/v1/cache`)
  if (!res.ok) throw new Error(`/v1/cache: HTTP ${res.status}`)
  return (await res.json()) as CacheStatus
}

/** The digest hexes of the blob files under a data dir, and the temp entries left in tmp/. */
export async function onDisk(dataDir: string): Promise<{ blobs: Map<string, number>; tmp: string[] }> {
  const blobs = new Map<string, number>()
  const dir = path.join(dataDir, 'blobs', 'sha256')
  for (const name of await fs.readdir(dir)) blobs.set(name, (await fs.stat(path.join(dir, name))).size)
  return { blobs, tmp: await fs.readdir(path.join(dataDir, 'tmp')) }
}

/**
 * A client that reads the first bytes of a response, then stops reading
 * until told to finish: the server is left blocked on a full socket.
 */
export function slowClient(url: string, firstBytes: number): { started: Promise<void>; finish(): Promise<{ status: number; sha: string; bytes: number }>; abort(): void } {
  const h = createHash('sha256')
  let bytes = 0
  let status = 0
  let res: http.IncomingMessage | undefined
  let released = false
  let aborter = () => undefined as void
  const ended = new Promise<void>((resolveEnd, rejectEnd) => {
    const req = http.get(url, { agent: false }, (r) => {
      res = r
      status = r.statusCode ?? 0
      r.on('data', (c: Buffer) => {
        h.update(c)
        bytes += c.length
        if (bytes >= firstBytes && !released) r.pause()
      })
      r.on('end', resolveEnd)
      r.on('error', rejectEnd)
    })
    req.on('error', rejectEnd)
    aborter = () => req.destroy()
  })
  ended.catch(() => undefined)
  const started = (async () => {
    for (let i = 0; i < 200 && bytes < firstBytes; i++) await new Promise((r) => setTimeout(r, 25))
    if (bytes < firstBytes) throw new Error(`slow client: only ${bytes} bytes arrived`)
  })()
  return {
    started,
    async finish() {
      released = true
      res?.resume()
      await ended
      return { status, sha: h.digest('hex'), bytes }
    },
    abort: () => aborter(),
  }
}
