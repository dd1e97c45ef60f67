import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { run, waitFor } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { skopeoPull, skopeoPush } from '../demo/skopeo.js'
import { Cluster, type Host } from './cluster.js'
import { peakRss, type Procs } from './procs.js'
import { runAria2Swarm } from './aria2.js'
import { benchNodeFlags, machineCpu, processCpu } from './cpu.js'

export type Mode = 'direct' | 'layerseed' | 'bittorrent' | 'layerseed-cold' | 'layerseed-nozones'
export const MODES: readonly Mode[] = ['direct', 'bittorrent', 'layerseed-cold', 'layerseed']
/** With --zones: `layerseed` runs with --zone set, and this mode is `layerseed` as it runs without (pre-seeded, no --zone). */
export const NO_ZONES_MODE: Mode = 'layerseed-nozones'

export interface SwarmSpec {
  readonly hosts: number
  readonly mbit: number
  readonly originMbit: number
  readonly layersMb: readonly number[]
  readonly modes: readonly Mode[]
  readonly timeoutMs: number
  /** MB of a separate image every agent pulls before the measured pull (0: none). */
  readonly warmupMb: number
  /** Zones of the cluster (0: none) and the rate of each zone's link, Mbit/s. */
  readonly zones: number
  readonly zoneMbit: number
}

export interface ModeResult {
  readonly mode: Mode
  /** Seconds from the start until each host had the whole image. */
  readonly hostSeconds: number[]
  readonly egressBytes: number
  /** With zones: bytes into each zone over its link (index 0 is zone 1, the registry's). */
  readonly zoneBytesIn?: number[]
  readonly sidecarRss?: number
  readonly agentRss?: number
  /** CPU-seconds over the pull window: the whole machine's busy time, and ours by process. */
  readonly cpu: {
    readonly busy: number
    readonly wall: number
    readonly sidecar?: number
    readonly agents?: number
    /** The distribution's own processes: the sidecar and agents, or the aria2c seeder and leechers. */
    readonly own?: number
  }
}

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const REPO = 'bench/app:1.0'
const WARMUP_REPO = 'bench/warmup:1.0'
const wrapIn = (h: Host) => ['ip', 'netns', 'exec', h.ns]

/** Runs every mode on one cluster and one image, and returns the measurements. */
export async function runSwarmBench(spec: SwarmSpec, work: string, procs: Procs, log: (s: string) => void): Promise<{ results: ModeResult[]; imageBytes: number }> {
  const cluster = Cluster.create({ hosts: spec.hosts, mbit: spec.mbit, originMbit: spec.originMbit, zones: spec.zones, zoneMbit: spec.zoneMbit })
  const zoneIds = Array.from({ length: cluster.zones > 1 ? cluster.zones : 0 }, (_, i) => i + 1)
  const reg = cluster.registry
  const regUrl = `http://${reg.ip}:5000`
  const sidecarUrl = `http://${reg.ip}:7070`
  let registry: Registry | undefined
  const results: ModeResult[] = []
  try {
    const startRegistryFor = (notify: boolean) =>
      startRegistry({
        dir: path.join(work, 'registry'),
        addr: { host: '0.0.0.0', port: 5000 },
        reachAt: reg.ip,
        wrap: wrapIn(reg),
        ...(notify ? { notifyUrl: 'http://127.0.0.1:7070/webhooks/distribution', notifyToken: 'bench' } : {}),
      })
    registry = await startRegistryFor(false)
    const image = await makeOciImage(path.join(work, 'image'), { layerSizes: spec.layersMb.map((m) => Math.round(m * 1e6)) })
    const imageBytes = image.blobs().reduce((n, b) => n + b.size, 0)
    await skopeoPush(image, `127.0.0.1:5000`, REPO, { wrap: wrapIn(reg), workDir: path.join(work, 'push') })
    if (spec.warmupMb > 0) {
      const warm = await makeOciImage(path.join(work, 'warmup-image'), { layerSizes: [Math.round(spec.warmupMb * 1e6)] })
      await skopeoPush(warm, `127.0.0.1:5000`, WARMUP_REPO, { wrap: wrapIn(reg), workDir: path.join(work, 'push-warmup') })
    }
    log(`image: ${image.layers.length} layer(s), ${(imageBytes / 1e6).toFixed(1)} MB; ${spec.hosts} hosts at ${spec.mbit} Mbit, registry at ${spec.originMbit} Mbit`)

    const measure = async (mode: Mode, pull: () => Promise<number[] | { seconds: number[]; busyCpu: number; ownCpu: number }>, ours?: { sidecar: number | undefined; agents: Array<number | undefined> }): Promise<void> => {
      // The modes before this one wrote hundreds of MB: flush them now, so their
      // write-back does not take CPU and disk from this mode's pull window.
      await run('sync', [], { timeoutMs: 120_000 })
      const before = cluster.txBytes(reg)
      const zonesBefore = zoneIds.map((z) => cluster.zoneBytesIn(z))
      const cpu0 = machineCpu()
      const sidecarCpu0 = processCpu(ours?.sidecar)
      const agentsCpu0 = ours?.agents.map(processCpu) ?? []
      const t0 = performance.now()
      const mono0 = process.hrtime.bigint()
      const pulled = await pull()
      const hostSeconds = Array.isArray(pulled) ? pulled : pulled.seconds
      const wall = (performance.now() - t0) / 1000
      const monoSeconds = [mono0, process.hrtime.bigint()].map((t) => (Number(t / 1_000_000n) / 1000).toFixed(3))
      const cpu1 = machineCpu()
      const egressBytes = cluster.txBytes(reg) - before
      // A pull that measured its own window (the plain swarm's, without its start-up) gives its CPU too.
      const zoneBytesIn = zoneIds.map((z, i) => cluster.zoneBytesIn(z) - zonesBefore[i])
      const busy = Array.isArray(pulled) ? cpu1.busy - cpu0.busy : pulled.busyCpu
      const window = Array.isArray(pulled) ? wall : Math.max(...hostSeconds)
      const capacity = Array.isArray(pulled) ? cpu1.total - cpu0.total : window * os.cpus().length
      const sidecar = ours ? processCpu(ours.sidecar) - sidecarCpu0 : undefined
      const agents = ours?.agents.map((pid, i) => processCpu(pid) - agentsCpu0[i])
      const agentSum = agents?.reduce((a, b) => a + b, 0)
      const r: ModeResult = {
        mode, hostSeconds, egressBytes,
        ...(zoneIds.length ? { zoneBytesIn } : {}),
        cpu: { busy, wall: window, ...(ours ? { sidecar, agents: agentSum, own: (sidecar ?? 0) + (agentSum ?? 0) } : {}), ...(Array.isArray(pulled) ? {} : { own: pulled.ownCpu }) },
        ...(ours ? { sidecarRss: peakRss(ours.sidecar), agentRss: peakRss(ours.agents[0]) } : {}),
      }
      results.push(r)
      log(`${mode}: all done in ${Math.max(...hostSeconds).toFixed(2)} s, registry egress ${(egressBytes / imageBytes).toFixed(2)}x${zoneIds.length ? `, into zones ${zoneBytesIn.map((b) => (b / imageBytes).toFixed(2)).join(' ')}x` : ''}`)
      const parts = [`machine busy ${busy.toFixed(1)} CPU-s of ${capacity.toFixed(1)} over ${window.toFixed(1)} s`]
      if (!Array.isArray(pulled)) parts.push(`aria2c processes ${pulled.ownCpu.toFixed(1)}`)
      if (agents && sidecar !== undefined && agentSum !== undefined) {
        parts.push(`sidecar ${sidecar.toFixed(1)}`, `agents ${agentSum.toFixed(1)} (${agents.map((a) => a.toFixed(1)).join(' ')})`, `everything else ${(busy - sidecar - agentSum).toFixed(1)}`)
      }
      log(`${mode}: cpu: ${parts.join(', ')}; window ${monoSeconds.join('-')} (CLOCK_MONOTONIC s, for perf --time)`)
    }

    // Each mode leaves a copy of the image per host on disk and in the page
    // cache: removed once measured, so they do not weigh on the modes after it.
    const dropCopies = (mode: Mode) => fs.rm(path.join(work, mode), { recursive: true, force: true })

    const skopeoAll = (mode: Mode, viaAgent: boolean, repo = REPO) => async () => {
      const t0 = performance.now()
      const label = repo === REPO ? 'pull' : 'warmup'
      return Promise.all(cluster.hosts.map(async (h) => {
        await skopeoPull({
          source: `${reg.ip}:5000/${repo}`,
          destDir: path.join(work, mode, h.name, label),
          workDir: path.join(work, mode, h.name, `skopeo-${label}`),
          mirror: viaAgent ? '127.0.0.1:65001' : undefined,
          wrap: wrapIn(h),
        })
        return (performance.now() - t0) / 1000
      }))
    }

    // `layerseed` names each process's zone when the cluster has zones; the other modes never do.
    const zoneFlag = (mode: Mode, h: Host) => (zoneIds.length && mode === 'layerseed' ? ['--zone', `z${h.zone}`] : [])
    const startSidecar = async (mode: Mode) => {
      const p = procs.start([...wrapIn(reg), process.execPath, ...benchNodeFlags(), BIN, 'sidecar', '--listen', '0.0.0.0:7070', '--origin', 'http://127.0.0.1:5000',
        '--data-dir', path.join(work, mode, 'sidecar'), '--advertise-host', reg.ip, '--peer-port', '6881', '--webhook-token', 'bench', '--log-level', 'warn', ...zoneFlag(mode, reg)],
      path.join(work, `${mode}-sidecar.log`))
      await waitFor(async () => (await fetch(`${sidecarUrl}/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 100, what: 'the sidecar' })
      return p
    }
    const startAgents = async (mode: Mode) => {
      const ps = cluster.hosts.map((h) => procs.start([...wrapIn(h), process.execPath, ...benchNodeFlags(), BIN, 'agent', '--listen', '0.0.0.0:65001', '--sidecar', sidecarUrl,
        '--upstream', regUrl, '--data-dir', path.join(work, mode, h.name, 'agent'), '--advertise-host', h.ip, '--peer-port', '6882', '--log-level', 'info', ...zoneFlag(mode, h)],
      path.join(work, `${mode}-${h.name}-agent.log`)))
      for (const h of cluster.hosts) await waitFor(async () => (await fetch(`http://${h.ip}:65001/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 100, what: `the agent on ${h.name}` })
      return ps
    }
    const layerseedMode = async (mode: Mode, prepare: () => Promise<void>) => {
      const sidecar = await startSidecar(mode)
      await prepare()
      const agents = await startAgents(mode)
      // Long-running daemons have served pulls before: a separate small image
      // through every agent first, so the measured pull is not their first.
      if (spec.warmupMb > 0) await skopeoAll(mode, true, WARMUP_REPO)()
      await measure(mode, skopeoAll(mode, true), { sidecar: sidecar.child.pid, agents: agents.map((a) => a.child.pid) })
      for (const a of agents) await procs.stop(a)
      await procs.stop(sidecar)
    }

    for (const mode of spec.modes.filter((m) => m !== 'layerseed' && m !== NO_ZONES_MODE)) {
      if (mode === 'direct') await measure(mode, skopeoAll(mode, false))
      if (mode === 'bittorrent') await measure(mode, () => runAria2Swarm({ cluster, image, work: path.join(work, mode), procs, timeoutMs: spec.timeoutMs }))
      if (mode === 'layerseed-cold') await layerseedMode(mode, async () => undefined)
      await dropCopies(mode)
    }
    const preSeeded = ([NO_ZONES_MODE, 'layerseed'] as const).filter((m) => spec.modes.includes(m))
    if (preSeeded.length) {
      await registry.stop()
      registry = await startRegistryFor(true)
    }
    for (const mode of preSeeded) {
      await layerseedMode(mode, async () => {
        // The blobs are in the registry already, so this push only PUTs the
        // manifest; its notification makes the sidecar pre-seed every blob.
        await skopeoPush(image, '127.0.0.1:5000', REPO, { wrap: wrapIn(reg), workDir: path.join(work, `push-again-${mode}`) })
        await waitSeeding(sidecarUrl, image)
        await sleep(500)
      })
      await dropCopies(mode)
    }
    return { results, imageBytes }
  } finally {
    await procs.stopAll()
    await registry?.stop().catch(() => undefined)
    cluster.destroy()
  }
}

async function waitSeeding(sidecarUrl: string, image: OciImage): Promise<void> {
  for (const b of image.blobs()) {
    await waitFor(async () => {
      const s = (await (await fetch(`${sidecarUrl}/v1/blobs/${b.digest}`)).json()) as { state: string }
      return s.state === 'seeding'
    }, { timeoutMs: 120_000, intervalMs: 100, what: `${b.digest} seeding` })
  }
}

export async function ensureDir(p: string): Promise<string> {
  await fs.mkdir(p, { recursive: true })
  return p
}
