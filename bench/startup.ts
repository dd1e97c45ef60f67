import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../demo/ports.js'
import { waitFor } from '../demo/process.js'
import { BlobCache, type CacheStatus } from '../lib/cache/blob-cache.js'
import { FileBlobStore } from '../lib/store/blob-store.js'
import { systemClock } from '../lib/core/clock.js'
import { VERIFY_CONCURRENCY } from '../lib/cache/open.js'
import { silentLogger } from '../lib/core/logger.js'
import { Procs, peakRss } from './procs.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')

/** Writes `count` random blobs of 1–4 KB as a data dir holds them, with access times spread over a day. */
async function fillDataDir(dir: string, blobs: Array<{ hex: string; data: Buffer }>): Promise<void> {
  const blobDir = path.join(dir, 'blobs', 'sha256')
  await fs.mkdir(blobDir, { recursive: true })
  const now = Date.now() / 1000
  for (const [i, b] of blobs.entries()) {
    const p = path.join(blobDir, b.hex)
    await fs.writeFile(p, b.data)
    const at = now - 86_400 + (i * 86_400) / blobs.length
    await fs.utimes(p, at, at)
  }
}

async function cache(url: string): Promise<CacheStatus | undefined> {
  try {
    const res = await fetch(`${url}/v1/cache`)
    return res.ok ? ((await res.json()) as CacheStatus) : undefined
  } catch {
    return undefined
  }
}

interface Startup {
  indexMs: number
  verifiedMs: number
  rssMiB: number
}

/** Starts a process on a filled data dir; times until /v1/cache lists every blob, and until none is unverified. */
async function timeStartup(procs: Procs, args: string[], url: string, count: number, logFile: string): Promise<Startup> {
  const t0 = performance.now()
  const p = procs.start([process.execPath, BIN, ...args], logFile)
  let indexMs = 0
  await waitFor(async () => {
    const s = await cache(url)
    if (s && !indexMs) indexMs = performance.now() - t0
    return s !== undefined
  }, { timeoutMs: 60_000, intervalMs: 10, what: `${args[0]} to answer /v1/cache` })
  const first = await cache(url)
  if (first?.blobs !== count) throw new Error(`${args[0]} indexed ${first?.blobs} of ${count} blobs`)
  let verifiedMs = 0
  await waitFor(async () => {
    const s = await cache(url)
    if (s?.unverified === 0) verifiedMs = performance.now() - t0
    return verifiedMs > 0
  }, { timeoutMs: 300_000, intervalMs: 20, what: `${args[0]} to verify every blob` })
  const rssMiB = peakRss(p.child.pid) / 2 ** 20
  return { indexMs, verifiedMs, rssMiB }
}

/** The cache alone, in this process: index from disk, then every blob hashed, with nothing seeded. */
async function timeCacheOnly(dataDir: string): Promise<Startup> {
  const t0 = performance.now()
  const store = new FileBlobStore(dataDir)
  await store.init()
  const c = new BlobCache({ store, clock: systemClock, logger: silentLogger(), limits: { minFreeBytes: 0 } })
  await c.load()
  const indexMs = performance.now() - t0
  await c.verifyAll(VERIFY_CONCURRENCY)
  return { indexMs, verifiedMs: performance.now() - t0, rssMiB: process.memoryUsage().rss / 2 ** 20 }
}

/**
 * Start-up with 10,000 small cached blobs: how soon the index answers (the
 * process serves), and how soon every blob is verified and seeding again.
 * The sidecar starts first; the agent's seeding announces to it.
 */
export async function runStartupBench(work: string, log: (s: string) => void, count = 10_000): Promise<string> {
  const procs = new Procs()
  try {
    log(`startup: writing ${count} blobs`)
    const blobs = Array.from({ length: count }, () => {
      const data = randomBytes(1024 + Math.floor(Math.random() * 3072))
      return { hex: createHash('sha256').update(data).digest('hex'), data }
    })
    await fillDataDir(path.join(work, 'sidecar'), blobs)
    await fillDataDir(path.join(work, 'agent'), blobs)
    log('startup: index and hashes alone')
    const alone = await timeCacheOnly(path.join(work, 'agent'))
    const common = ['--peer-port', '0', '--min-free-disk', '0', '--log-level', 'warn']

    const sidecarPort = await freePort()
    const sidecarUrl = `http://127.0.0.1:${sidecarPort}`
    log('startup: sidecar')
    const sidecar = await timeStartup(procs, ['sidecar', '--listen', `127.0.0.1:${sidecarPort}`, '--origin', `http://127.0.0.1:${await freePort()}`, '--data-dir', path.join(work, 'sidecar'), ...common], sidecarUrl, count, path.join(work, 'sidecar.log'))
    const agentPort = await freePort()
    log('startup: agent')
    const agent = await timeStartup(procs, ['agent', '--listen', `127.0.0.1:${agentPort}`, '--sidecar', sidecarUrl, '--upstream', `http://127.0.0.1:${await freePort()}`, '--data-dir', path.join(work, 'agent'), ...common], `http://127.0.0.1:${agentPort}`, count, path.join(work, 'agent.log'))

    const mb = (blobs.reduce((n, b) => n + b.data.length, 0) / 1e6).toFixed(1)
    const row = (name: string, s: Startup) => `| ${name} | ${count} | ${mb} | ${s.indexMs.toFixed(0)} | ${s.verifiedMs.toFixed(0)} | ${s.rssMiB.toFixed(0)} |`
    return [
      '| start-up | blobs | MB | index answers (ms) | all verified and seeding (ms) | peak RSS MiB |',
      '| --- | --- | --- | --- | --- | --- |',
      row('sidecar process', sidecar),
      row('agent process', agent),
      row('cache alone, nothing seeded (in the benchmark\'s process)', alone),
    ].join('\n')
  } finally {
    await procs.stopAll()
  }
}
