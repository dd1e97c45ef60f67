import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../demo/ports.js'
import { makeOciImage } from '../demo/image.js'
import { run, waitFor } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { skopeoPush } from '../demo/skopeo.js'
import { runFlood } from './flood.js'
import { Procs } from './procs.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const REPEATS = 9
const SMALL = [{ label: '1 KB', bytes: 1_000 }, { label: '100 KB', bytes: 100_000 }, { label: '4 MB', bytes: 4_000_000 }]
const BIG_BYTES = 200_000_000
/** Sizes at which a lone agent's pull is timed over HTTP from the sidecar and through the swarm, 3 blobs each way. */
const CROSSOVER = [4_000_000, 16_000_000, 48_000_000]
const CROSSOVER_REPEATS = 3

async function curl(url: string): Promise<{ seconds: number; bytesPerSec: number }> {
  const { stdout } = await run('curl', ['-sf', '-o', '/dev/null', '-w', '%{time_total} %{speed_download}', url], { timeoutMs: 120_000 })
  const [t, s] = stdout.trim().split(' ').map(Number)
  return { seconds: t, bytesPerSec: s }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export interface LoopbackFigures {
  readonly bigBytes: number
  /** MB/s from the registry, and through a cold agent cache: first the agent's first swarm pull, then a second blob once it is warm. */
  readonly big: { readonly direct: number; readonly fresh: number; readonly warm: number }
  /** Median latencies in ms, and the agent's first of each size (its code still cold for that size). */
  readonly small: ReadonlyArray<{ readonly label: string; readonly direct: number; readonly agent: number; readonly agentFirst: number }>
  /** Median ms of a lone agent's pull, cold cache: the bytes in the torrent answer (HTTP) or through the swarm. */
  readonly crossover: ReadonlyArray<{ readonly bytes: number; readonly direct: number; readonly http: number; readonly swarm: number }>
}

/**
 * One registry, one sidecar and one agent on loopback without shaping: the
 * agent's throughput on a large blob and its latency on small ones, each
 * beside the same blob read straight from the registry with curl.
 */
export async function runLoopbackPulls(work: string, procs: Procs, log: (s: string) => void): Promise<LoopbackFigures> {
  const registry = await startRegistry({ dir: path.join(work, 'registry') })
  try {
    const cross = CROSSOVER.flatMap((b) => Array.from({ length: 2 * CROSSOVER_REPEATS }, () => b))
    const layerSizes = [BIG_BYTES, BIG_BYTES, ...SMALL.flatMap((s) => Array.from({ length: REPEATS }, () => s.bytes)), ...cross]
    const image = await makeOciImage(path.join(work, 'image'), { layerSizes })
    await skopeoPush(image, registry.host, 'bench/micro:1.0')
    const [big, big2, ...rest] = image.layers
    const small = rest.slice(0, SMALL.length * REPEATS)
    const crossBlobs = rest.slice(SMALL.length * REPEATS)

    const sidecarPort = await freePort()
    const sidecarUrl = `http://127.0.0.1:${sidecarPort}`
    procs.start([process.execPath, BIN, 'sidecar', '--listen', `127.0.0.1:${sidecarPort}`, '--origin', registry.url, '--data-dir', path.join(work, 'sidecar'), '--peer-port', '0', '--log-level', 'warn'], path.join(work, 'sidecar.log'))
    await waitFor(async () => (await fetch(`${sidecarUrl}/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 100, what: 'the sidecar' })
    for (const l of image.layers) await (await fetch(`${sidecarUrl}/v1/blobs/${l.digest}/torrent?repo=bench/micro`)).arrayBuffer()
    // The sidecar just stored 400 MB: flush it to disk now, not during the measurements.
    await run('sync', [], { timeoutMs: 120_000 })
    const startAgent = async (name: string, extra: string[]) => {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}`
      procs.start([process.execPath, BIN, 'agent', '--listen', `127.0.0.1:${port}`, '--sidecar', sidecarUrl, '--upstream', registry.url, '--data-dir', path.join(work, name), '--peer-port', '0', '--log-level', 'warn', ...extra], path.join(work, `${name}.log`))
      await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 100, what: `the agent ${name}` })
      return url
    }
    const agentUrl = await startAgent('agent', [])

    const blobUrl = (base: string, digest: string) => `${base}/v2/bench/micro/blobs/${digest}`
    // Small blobs first: after a 200 MB transfer the agent's kernel would
    // still be writing that blob back to disk, adding its noise to every small write.
    log('loopback: small-blob latency')
    const smallFigures = []
    for (const [i, s] of SMALL.entries()) {
      const blobs = small.slice(i * REPEATS, (i + 1) * REPEATS)
      const d: number[] = []
      const a: number[] = []
      for (const b of blobs) {
        d.push((await curl(blobUrl(registry.url, b.digest))).seconds * 1000)
        a.push((await curl(blobUrl(agentUrl, b.digest))).seconds * 1000)
      }
      smallFigures.push({ label: s.label, direct: median(d), agent: median(a), agentFirst: a[0] })
    }
    log('loopback: single-agent throughput')
    const direct = await curl(blobUrl(registry.url, big.digest))
    const fresh = await curl(blobUrl(agentUrl, big.digest))
    await run('sync', [], { timeoutMs: 120_000 })
    const warm = await curl(blobUrl(agentUrl, big2.digest))
    log('loopback: a lone agent over HTTP and through the swarm')
    const httpUrl = await startAgent('agent-http', ['--http-alone-max-bytes', `${2 * CROSSOVER[CROSSOVER.length - 1]}`])
    const swarmUrl = await startAgent('agent-swarm', ['--http-max-bytes', '0', '--http-alone-max-bytes', '0'])
    const crossover = []
    for (const [i, bytes] of CROSSOVER.entries()) {
      const d: number[] = []
      const h: number[] = []
      const w: number[] = []
      // Each agent gets blobs of its own, so each is alone with the sidecar's seeder.
      const blobs = crossBlobs.slice(2 * i * CROSSOVER_REPEATS, 2 * (i + 1) * CROSSOVER_REPEATS)
      for (const [k, b] of blobs.entries()) {
        d.push((await curl(blobUrl(registry.url, b.digest))).seconds * 1000)
        const viaHttp = k % 2 === 0
        ;(viaHttp ? h : w).push((await curl(blobUrl(viaHttp ? httpUrl : swarmUrl, b.digest))).seconds * 1000)
      }
      crossover.push({ bytes, direct: median(d), http: median(h), swarm: median(w) })
    }
    return { bigBytes: BIG_BYTES, big: { direct: direct.bytesPerSec / 1e6, fresh: fresh.bytesPerSec / 1e6, warm: warm.bytesPerSec / 1e6 }, small: smallFigures, crossover }
  } finally {
    await procs.stopAll()
    await registry.stop()
  }
}

/** Single-agent throughput, small-blob latency and webhook intake, on loopback without shaping. */
export async function runMicroBenches(work: string, log: (s: string) => void): Promise<string> {
  const procs = new Procs()
  const registry = await startRegistry({ dir: path.join(work, 'registry') })
  try {
    const lb = await runLoopbackPulls(path.join(work, 'loopback'), procs, log)
    const lines = ['| micro-benchmark | direct | through the agent | ratio |', '| --- | --- | --- | --- |']
    const mb = lb.bigBytes / 1e6
    lines.push(`| single-agent throughput, ${mb} MB blob, cold agent cache, fresh agent (MB/s) | ${lb.big.direct.toFixed(0)} | ${lb.big.fresh.toFixed(0)} | ${(lb.big.fresh / lb.big.direct).toFixed(2)} |`)
    lines.push(`| the same, another ${mb} MB blob once the agent is warm (MB/s) | ${lb.big.direct.toFixed(0)} | ${lb.big.warm.toFixed(0)} | ${(lb.big.warm / lb.big.direct).toFixed(2)} |`)
    for (const c of lb.crossover) lines.push(`| ${c.bytes / 1e6} MB blob, a lone agent, cold cache: over HTTP in the torrent answer / through the swarm, median of ${CROSSOVER_REPEATS} (ms) | ${c.direct.toFixed(1)} | ${c.http.toFixed(1)} / ${c.swarm.toFixed(1)} | ${(c.http / c.direct).toFixed(2)} / ${(c.swarm / c.direct).toFixed(2)} |`)
    for (const s of lb.small) lines.push(`| ${s.label} blob latency, cold agent cache, median of ${REPEATS} (ms; the agent's first: ${s.agentFirst.toFixed(1)}) | ${s.direct.toFixed(1)} | ${s.agent.toFixed(1)} | ${(s.agent / s.direct).toFixed(2)} |`)

    log('micro: webhook intake')
    const intake = await webhookIntake(work, procs)
    lines.push(`| webhook intake: envelopes/s with p99 latency ≤ 50 ms (concurrency ${intake.concurrency}, p99 ${intake.p99Ms.toFixed(1)} ms) | - | ${intake.rate.toFixed(0)} | - |`)
    log('micro: webhook flood')
    const f = await runFlood(BIN, work, procs, { origin: registry.url, repo: 'bench/micro', digest: await smallBlob(work, registry) })
    const cpu = `sidecar ${f.sidecarCpuS.toFixed(1)} CPU-s, machine ${f.machineBusyS.toFixed(1)} of ${(os.cpus().length * f.seconds).toFixed(1)} CPU-s`
    lines.push(`| webhook flood, ${f.sent} envelopes at ${(f.sent / f.seconds).toFixed(0)}/s (${f.statuses['202'] ?? 0} got 202, ${f.statuses['503'] ?? 0} got 503; ${cpu}): /healthz p50 / p99 (ms), ${f.probes} probes | - | ${f.healthP50Ms.toFixed(1)} / ${f.healthP99Ms.toFixed(1)} | - |`)
    lines.push(`| the same flood: a seeding blob's torrent request p50 / p99 (ms) | - | ${f.torrentP50Ms.toFixed(1)} / ${f.torrentP99Ms.toFixed(1)} | - |`)
    return lines.join('\n')
  } finally {
    await procs.stopAll()
    await registry.stop()
  }
}

/** A one-layer image pushed for the flood, which names one of its blobs in every envelope. */
async function smallBlob(work: string, registry: Registry): Promise<string> {
  const image = await makeOciImage(path.join(work, 'flood-image'), { layerSizes: [1_000] })
  await skopeoPush(image, registry.host, 'bench/micro:1.0')
  return image.layers[0].digest
}

/**
 * Envelopes of one push event each, every one a new digest, sent by a growing
 * number of concurrent clients for 1.5 s per level; the answer is the best rate
 * whose p99 latency stayed within 50 ms. The origin is a closed port, so the
 * work queued behind the webhook never completes and the intake is measured alone.
 */
async function webhookIntake(work: string, procs: Procs): Promise<{ rate: number; p99Ms: number; concurrency: number }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  procs.start([process.execPath, BIN, 'sidecar', '--listen', `127.0.0.1:${port}`, '--origin', `http://127.0.0.1:${await freePort()}`, '--data-dir', path.join(work, 'intake'),
    '--peer-port', '0', '--queue-max', '1000000', '--webhook-concurrency', '1000', '--log-level', 'warn'], path.join(work, 'intake.log'))
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 100, what: 'the intake sidecar' })
  let n = 0
  const envelope = () => {
    const hex = (n++).toString(16).padStart(64, '0')
    return JSON.stringify({ events: [{ action: 'push', target: { mediaType: 'application/octet-stream', digest: `sha256:${hex}`, size: 1, repository: 'bench/intake' } }] })
  }
  let best = { rate: 0, p99Ms: 0, concurrency: 0 }
  for (const concurrency of [1, 2, 4, 8, 16, 32, 64]) {
    const latencies: number[] = []
    const end = performance.now() + 1500
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now()
        const res = await fetch(`${url}/webhooks/distribution`, { method: 'POST', body: envelope(), headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json' } })
        await res.arrayBuffer()
        if (res.status !== 202) throw new Error(`webhook answered ${res.status}`)
        latencies.push(performance.now() - t)
      }
    }))
    latencies.sort((a, b) => a - b)
    const p99Ms = latencies[Math.floor(latencies.length * 0.99)]
    const rate = latencies.length / 1.5
    if (p99Ms > 50) break
    if (rate > best.rate) best = { rate, p99Ms, concurrency }
  }
  return best
}
