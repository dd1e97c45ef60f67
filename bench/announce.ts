// Tracker load: simulated peers announcing to three sidecars that share one
// Redis, and to one sidecar alone. Each sidecar seeds the same 100 small
// blobs (pushed straight to a registry), so their info-hashes are issued;
// then 10,000 distinct peer ids, 100 per torrent, announce `started` and two
// updates each, spread over the sidecars, from a fixed number of concurrent
// keep-alive clients.
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../demo/ports.js'
import { waitFor, type Spawned } from '../demo/process.js'
import { startRegistry } from '../demo/registry.js'
import { benchNodeFlags, processCpu } from './cpu.js'
import type { Procs } from './procs.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const TORRENTS = 100
const PEERS_PER_TORRENT = 100
const ANNOUNCES_PER_PEER = 3
const CONCURRENCY = 64
const REPO = 'bench/announce'

interface Target {
  readonly name: string
  readonly pid: number | undefined
}

export interface AnnounceResult {
  readonly setup: string
  readonly announces: number
  readonly perSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failures: number
  /** The first few reasons, for the log. */
  readonly reasons: string[]
  /** CPU seconds each process spent during the run. */
  readonly cpu: Array<{ name: string; seconds: number }>
}

/** Pushes `n` distinct 1 KB blobs with the registry API (monolithic upload); answers their digests. */
async function pushBlobs(registry: string, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const data = randomBytes(1024)
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
    const start = await fetch(`${registry}/v2/${REPO}/blobs/uploads/`, { method: 'POST' })
    const loc = new URL(start.headers.get('location') ?? '', registry)
    loc.searchParams.set('digest', digest)
    const put = await fetch(loc, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: data })
    if (put.status !== 201) throw new Error(`pushing a blob: HTTP ${put.status}`)
    out.push(digest)
  }
  return out
}

async function startSidecar(procs: Procs, dir: string, name: string, origin: string, extra: string[]): Promise<{ url: string; proc: Spawned }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = procs.start([process.execPath, ...benchNodeFlags(), BIN, 'sidecar', '--listen', `127.0.0.1:${port}`, '--origin', origin, '--data-dir', path.join(dir, name), '--peer-port', '0', '--min-free-disk', '0', '--log-level', 'warn', ...extra], path.join(dir, `${name}.log`))
  await waitFor(async () => {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited; see ${dir}/${name}.log`)
    return (await fetch(`${url}/healthz`)).ok
  }, { timeoutMs: 20_000, intervalMs: 100, what: name })
  return { url, proc }
}

/** Every blob's info-hash, once the sidecar seeds it (its torrent request fetches it first). */
async function seedAll(url: string, digests: string[]): Promise<string[]> {
  const out: string[] = []
  for (const d of digests) {
    const res = await fetch(`${url}/v1/blobs/${d}/torrent?repo=${REPO}`)
    if (!res.ok) throw new Error(`${url}: torrent of ${d}: HTTP ${res.status}`)
    out.push(res.headers.get('x-layerseed-info-hash') ?? '')
    await res.arrayBuffer()
  }
  return out
}

const escape = (b: Buffer) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')

/** Runs the announces against `urls` (peer i always at the same sidecar, as an agent keeps its tracker). */
async function load(urls: string[], infoHashes: string[], targets: Target[], setup: string): Promise<AnnounceResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const peers = Array.from({ length: TORRENTS * PEERS_PER_TORRENT }, (_, i) => ({
    ih: escape(Buffer.from(infoHashes[i % TORRENTS], 'hex')),
    id: escape(Buffer.concat([Buffer.from('-LSBNCH-'), createHash('sha1').update(`peer-${i}`).digest().subarray(0, 12)])),
    port: 10_000 + (i % 50_000),
    base: urls[i % urls.length],
  }))
  const jobs: Array<{ p: (typeof peers)[number]; event: string }> = []
  for (let round = 0; round < ANNOUNCES_PER_PEER; round++) for (const p of peers) jobs.push({ p, event: round === 0 ? 'started' : '' })
  const latencies: number[] = []
  let failures = 0
  const reasons: string[] = []
  const failed = (why: string) => {
    failures++
    if (reasons.length < 5) reasons.push(why)
  }
  let next = 0
  const get = (url: string) =>
    new Promise<Buffer>((resolve, reject) => {
      http.get(url, { agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve(Buffer.concat(chunks)))
        res.on('error', reject)
      }).on('error', reject)
    })
  const cpu0 = targets.map((t) => processCpu(t.pid))
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let j = next++; j < jobs.length; j = next++) {
      const { p, event } = jobs[j]
      const url = `${p.base}/announce?info_hash=${p.ih}&peer_id=${p.id}&port=${p.port}&ip=127.0.0.1&left=1000&compact=1&numwant=50${event ? `&event=${event}` : ''}`
      const s = performance.now()
      try {
        // Once more on a reset: a kept-alive socket the server closed as idle just as it was reused, as any HTTP client retries.
        const body = await get(url).catch(() => get(url))
        if (body.includes('failure reason')) failed(body.toString('latin1').slice(0, 200))
      } catch (err) {
        failed((err as Error).message)
      }
      latencies.push(performance.now() - s)
    }
  }))
  const seconds = (performance.now() - t0) / 1000
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))]
  return {
    setup,
    announces: jobs.length,
    perSecond: jobs.length / seconds,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    failures,
    reasons,
    cpu: targets.map((t, i) => ({ name: t.name, seconds: processCpu(t.pid) - cpu0[i] })),
  }
}

export async function runAnnounceBench(dir: string, procs: Procs, log: (s: string) => void): Promise<AnnounceResult[]> {
  await fs.mkdir(dir, { recursive: true })
  const registry = await startRegistry({ dir: path.join(dir, 'registry') })
  try {
    const digests = await pushBlobs(registry.url, TORRENTS)
    log(`announce: ${TORRENTS} blobs pushed`)
    const results: AnnounceResult[] = []

    const alone = await startSidecar(procs, dir, 'alone', registry.url, [])
    const aloneHashes = await seedAll(alone.url, digests)
    results.push(await load([alone.url], aloneHashes, [{ name: 'sidecar', pid: alone.proc.child.pid }], 'one sidecar, no Redis'))
    if (results[0].failures) log(`announce: failures: ${results[0].reasons.join(' | ')}`)
    await procs.stop(alone.proc)
    log('announce: one sidecar done')

    const redisPort = await freePort()
    const redis = procs.start(['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], path.join(dir, 'redis.log'))
    await waitFor(async () => (await fs.readFile(path.join(dir, 'redis.log'), 'utf8')).includes('Ready to accept connections'), { timeoutMs: 10_000, intervalMs: 50, what: 'redis-server' })
    // Every member an owner of every blob, so each seeds all 100 and answers for their info-hashes.
    const group: Array<{ url: string; proc: Spawned }> = []
    for (const i of [0, 1, 2]) group.push(await startSidecar(procs, dir, `member-${i}`, registry.url, ['--redis', `redis://127.0.0.1:${redisPort}`, '--replicas', '3']))
    await waitFor(async () => {
      for (const m of group) if (((await (await fetch(`${m.url}/v1/members`)).json()) as { members: unknown[] }).members.length !== 3) return false
      return true
    }, { timeoutMs: 20_000, intervalMs: 200, what: 'the group to form' })
    const hashes = await seedAll(group[0].url, digests)
    for (const m of group.slice(1)) await seedAll(m.url, digests)
    results.push(await load(group.map((m) => m.url), hashes, [...group.map((m, i) => ({ name: `member-${i}`, pid: m.proc.child.pid })), { name: 'redis', pid: redis.child.pid }], 'three sidecars, one Redis'))
    if (results[1].failures) log(`announce: failures: ${results[1].reasons.join(' | ')}`)
    log('announce: group done')
    return results
  } finally {
    await registry.stop()
  }
}

export function announceTable(results: AnnounceResult[]): string {
  const peers = TORRENTS * PEERS_PER_TORRENT
  const lines = [
    `Tracker announces: ${peers} distinct peer ids over ${TORRENTS} torrents, ${ANNOUNCES_PER_PEER} announces each (started, then updates), ${CONCURRENCY} concurrent keep-alive clients on loopback`,
    '',
    '| setup | announces | announces/s | p50 ms | p99 ms | failed | CPU seconds per process |',
    '|---|---:|---:|---:|---:|---:|---|',
  ]
  for (const r of results) {
    lines.push(`| ${r.setup} | ${r.announces} | ${r.perSecond.toFixed(0)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.failures} | ${r.cpu.map((c) => `${c.name} ${c.seconds.toFixed(1)}`).join(', ')} |`)
  }
  return lines.join('\n')
}
