import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import bencode from 'bencode'
import type { ImageBlob } from '../../demo/image.js'
import type { RunningAgent } from '../../plugin/run.js'
import type { SourceBytes } from '../../plugin/puller.js'
import { parseTorrent } from '../../lib/swarm/torrent.js'

export async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(p)) h.update(c as Buffer)
  return h.digest('hex')
}

export async function sourcesOf(agent: RunningAgent): Promise<SourceBytes> {
  return ((await (await fetch(`${agent.url}/v1/stats`)).json()) as { bytesBySource: SourceBytes }).bytesBySource
}

/** Pulls a blob through an agent's mirror; answers the sha256 of what came and how long it took. */
export async function timedPull(agent: RunningAgent, repo: string, blob: ImageBlob): Promise<{ ms: number; sha: string }> {
  const started = performance.now()
  const res = await fetch(`${agent.url}/v2/${repo}/blobs/${blob.digest}`)
  const h = createHash('sha256')
  for await (const c of res.body ?? []) h.update(c as Uint8Array)
  return { ms: performance.now() - started, sha: `sha256:${h.digest('hex')}` }
}

/** The torrent a sidecar hands out for a blob (fetching and seeding it first): its info-hash, announce URL and piece count. */
export async function torrentOf(sidecarUrl: string, repo: string, blob: ImageBlob): Promise<{ torrent: Buffer; infoHash: string; announceUrl: string; pieces: number }> {
  const res = await fetch(`${sidecarUrl}/v1/blobs/${blob.digest}/torrent?repo=${repo}&inline-max=0&inline-alone-max=0`)
  if (res.status !== 200) throw new Error(`torrent of ${blob.digest}: HTTP ${res.status}`)
  const torrent = Buffer.from(await res.arrayBuffer())
  return describeTorrent(torrent)
}

export function describeTorrent(torrent: Buffer): { torrent: Buffer; infoHash: string; announceUrl: string; pieces: number } {
  const parsed = parseTorrent(torrent)
  const info = (bencode.decode(torrent) as { info: { pieces: Uint8Array } }).info
  return { torrent, infoHash: parsed.infoHash.hex, announceUrl: parsed.announce ?? '', pieces: info.pieces.length / 20 }
}

/** The sha256 hex of an agent's cache file of `blob`, once the pull committed it (just after the client had its last byte). */
export async function cachedSha(dataDir: string, blob: ImageBlob): Promise<string> {
  const p = path.join(dataDir, 'blobs', 'sha256', blob.digest.slice(7))
  for (let i = 0; i < 100; i++) {
    const there = await fs.stat(p).then(() => true, () => false)
    if (there) return sha256File(p)
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${blob.digest} was never cached`)
}
