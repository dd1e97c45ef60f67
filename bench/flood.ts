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
  readonly probes: number
  readonly sidecarCpuS: number
  readonly machineBusyS: number
}

/**
 * A webhook flood against a real sidecar process: `rate` envelopes a second
 * for `seconds`, each a new blob, from at most `concurrency` clients at once,
 * while /healthz is asked every 10 ms. Every envelope must get 202 or 503.
 * The origin is a closed port, so what is queued never completes and only
 * the control plane is measured.
 */
export async function runFlood(bin: string, work: string, procs: Procs, o = { rate: 1000, seconds: 5, concurrency: 50 }): Promise<FloodResult> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const p = procs.start([process.execPath, ...benchNodeFlags(), bin, 'sidecar', '--listen', `127.0.0.1:${port}`, '--origin', `http://127.0.0.1:${await freePort()}`, '--data-dir', path.join(work, 'flood'),
    '--peer-port', '0', '--log-level', 'warn'], path.join(work, 'flood.log'))
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 100, what: 'the flood sidecar' })
  let n = 0
  const envelope = () => {
    const hex = (0xf00d0000 + n++).toString(16).padStart(64, '0')
    return JSON.stringify({ events: [{ action: 'push', target: { mediaType: 'application/octet-stream', digest: `sha256:${hex}`, size: 1, repository: 'bench/flood' } }] })
  }
  const statuses: Record<string, number> = {}
  const health: number[] = []
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
  health.sort((a, b) => a - b)
  const at = (q: number) => health[Math.min(health.length - 1, Math.floor(health.length * q))]
  return { sent: total, seconds, statuses, healthP50Ms: at(0.5), healthP99Ms: at(0.99), probes: health.length, sidecarCpuS: cpu1.sidecar - cpu0.sidecar, machineBusyS: cpu1.machine - cpu0.machine }
}
