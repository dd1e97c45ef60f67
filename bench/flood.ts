import path from 'node:path'
import { freePort } from '../demo/ports.js'
import { waitFor } from '../demo/process.js'
import { benchNodeFlags, machineCpu, processCpu } from './cpu.js'
import type { Procs } from './procs.js'

export interface FloodResult {
  readonly sent: number
  readonly seconds: number
  readonly statuses: Readonly<Record<string, number>>
  readonly healthP50Ms: number
  readonly healthP99Ms: number
  /** A torrent request for a seeding blob, as an agent's pull starts with: p50 and p99 during the flood. */
  readonly torrentP50Ms: number
  readonly torrentP99Ms: number
  readonly probes: number
  readonly sidecarCpuS: number
  readonly machineBusyS: number
}

/**
 * A webhook flood against a real sidecar process: `rate` envelopes a second
 * for `seconds`, each a new blob, from at most `concurrency` clients at once,
 * while /healthz and the torrent of a seeding blob (what a pull asks first)
 * are asked every 10 ms. Every envelope must get 202 or 503. The flood's
 * digests are not in the registry: each costs one 404 from it and fails.
 */
export async function runFlood(bin: string, work: string, procs: Procs, seeded: { origin: string; repo: string; digest: string }, o = { rate: 1000, seconds: 5, concurrency: 50 }): Promise<FloodResult> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const p = procs.start([process.execPath, ...benchNodeFlags(), bin, 'sidecar', '--listen', `127.0.0.1:${port}`, '--origin', seeded.origin, '--data-dir', path.join(work, 'flood'),
    '--peer-port', '0', '--log-level', 'warn'], path.join(work, 'flood.log'))
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 100, what: 'the flood sidecar' })
  const torrentUrl = `${url}/v1/blobs/${seeded.digest}/torrent?repo=${encodeURIComponent(seeded.repo)}`
  if (!(await fetch(torrentUrl)).ok) throw new Error('flood: the seeded blob has no torrent')
  let n = 0
  const envelope = () => {
    const hex = (0xf00d0000 + n++).toString(16).padStart(64, '0')
    return JSON.stringify({ events: [{ action: 'push', target: { mediaType: 'application/octet-stream', digest: `sha256:${hex}`, size: 1, repository: 'bench/flood' } }] })
  }
  const statuses: Record<string, number> = {}
  const health: number[] = []
  const torrents: number[] = []
  const total = o.rate * o.seconds
  const cpu0 = { sidecar: processCpu(p.child.pid), machine: machineCpu().busy }
  const started = performance.now()
  let done = false
  const probe = (async () => {
    // Bounded by the flood's end.
    while (!done) {
      const t = performance.now()
      await (await fetch(`${url}/healthz`)).arrayBuffer()
      health.push(performance.now() - t)
      const u = performance.now()
      const res = await fetch(torrentUrl)
      await res.arrayBuffer()
      if (!res.ok) throw new Error(`flood: the torrent request answered ${res.status}`)
      torrents.push(performance.now() - u)
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  let inFlight = 0
  const open = new Set<Promise<void>>()
  for (let i = 0; i < total; i++) {
    // Paced: envelope i leaves at i / rate seconds, or later when `concurrency` are still open.
    const due = started + (i * 1000) / o.rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    while (inFlight >= o.concurrency) await Promise.race(open)
    inFlight++
    const s = fetch(`${url}/webhooks/distribution`, { method: 'POST', body: envelope(), headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json' } })
      .then(async (res) => {
        await res.arrayBuffer()
        statuses[res.status] = (statuses[res.status] ?? 0) + 1
      })
      .finally(() => {
        inFlight--
        open.delete(s)
      })
    open.add(s)
  }
  await Promise.all(open)
  const seconds = (performance.now() - started) / 1000
  done = true
  await probe
  const cpu1 = { sidecar: processCpu(p.child.pid), machine: machineCpu().busy }
  await procs.stop(p)
  for (const k of Object.keys(statuses)) if (k !== '202' && k !== '503') throw new Error(`flood: ${statuses[k]} envelopes got HTTP ${k}`)
  const at = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]
  return { sent: total, seconds, statuses, healthP50Ms: at(health, 0.5), healthP99Ms: at(health, 0.99), torrentP50Ms: at(torrents, 0.5), torrentP99Ms: at(torrents, 0.99), probes: health.length, sidecarCpuS: cpu1.sidecar - cpu0.sidecar, machineBusyS: cpu1.machine - cpu0.machine }
}
