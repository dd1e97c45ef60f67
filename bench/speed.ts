import path from 'node:path'
import { run } from '../demo/process.js'
import { runSwarmBench, type ModeResult, type SwarmSpec } from './swarm.js'
import { runLoopbackPulls, type LoopbackFigures } from './micro.js'
import type { Procs } from './procs.js'

/** The shaped cluster the targets are set on: 6 hosts at 80 Mbit/s, the registry too, layers of 30 and 10 MB. */
const CLUSTER = { hosts: 6, mbit: 80, originMbit: 80, layersMb: [30, 10] }
const SCALING_HOSTS = [2, 4, 8, 12]
const WARMUP_MB = 20

interface Row {
  readonly hosts: number
  readonly imageBytes: number
  readonly result: ModeResult
}

const allDone = (r: ModeResult) => Math.max(...r.hostSeconds)
const lowerBound = (imageBytes: number) => imageBytes / ((CLUSTER.mbit * 1e6) / 8)
const efficiency = (row: Row) => lowerBound(row.imageBytes) / allDone(row.result)
/** Whole-machine busy CPU-seconds in the pull window per GB delivered to the hosts. */
const cpuPerGb = (row: Row) => row.result.cpu.busy / ((row.hosts * row.imageBytes) / 1e9)
/** The same for the distribution's own processes only (sidecar and agents, or aria2c's), which other load on the machine does not touch. */
const ownPerGb = (row: Row) => (row.result.cpu.own ?? NaN) / ((row.hosts * row.imageBytes) / 1e9)
const egress = (row: Row) => row.result.egressBytes / row.imageBytes

/** CPU-seconds one core spends on one GB of `algo` (openssl's EVP digest at 16 KiB blocks, for 1 s). */
async function hashCostPerGb(algo: 'sha1' | 'sha256'): Promise<number> {
  const { stdout } = await run('openssl', ['speed', '-seconds', '1', '-bytes', '16384', '-evp', algo], { timeoutMs: 60_000 })
  // The last line: "<algo>   <kB/s at 16384>", in thousands of bytes per second.
  const last = stdout.trim().split('\n').at(-1) ?? ''
  const kbps = Number(/([\d.]+)k\s*$/.exec(last)?.[1])
  if (!(kbps > 0)) throw new Error(`openssl speed ${algo}: cannot read ${JSON.stringify(last)}`)
  return 1e9 / (kbps * 1000)
}

/**
 * The speed targets in one run: the shaped cluster with layerseed (fresh and
 * warm agents) beside aria2c, the loopback throughput and latencies, the
 * scaling curve, and this machine's floor for the cluster's bytes.
 */
export async function runSpeedBench(work: string, procs: Procs, log: (s: string) => void, timeoutMs: number): Promise<string> {
  const spec = (hosts: number, modes: SwarmSpec['modes'], warmupMb = 0): SwarmSpec => ({ ...CLUSTER, hosts, modes, timeoutMs, warmupMb, zones: 0, zoneMbit: 0 })
  const cluster = async (name: string, s: SwarmSpec) => {
    log(`speed: ${name}`)
    const { results, imageBytes } = await runSwarmBench(s, path.join(work, name), procs, log)
    return results.map((result) => ({ hosts: s.hosts, imageBytes, result }))
  }
  const [aria, fresh] = await cluster('cluster', spec(CLUSTER.hosts, ['bittorrent', 'layerseed']))
  const [warm] = await cluster('cluster-warm', spec(CLUSTER.hosts, ['layerseed'], WARMUP_MB))
  const loopback = await runLoopbackPulls(path.join(work, 'loopback'), procs, log)
  const scaling: Row[] = []
  for (const hosts of SCALING_HOSTS) scaling.push(...(await cluster(`scaling-${hosts}`, spec(hosts, ['layerseed']))))
  const sha1 = await hashCostPerGb('sha1')
  const sha256 = await hashCostPerGb('sha256')
  return report({ aria, fresh, warm, loopback, scaling, sha1, sha256 })
}

function report(f: { aria: Row; fresh: Row; warm: Row; loopback: LoopbackFigures; scaling: Row[]; sha1: number; sha256: number }): string {
  const { aria, fresh, warm, loopback: lb } = f
  const small = (label: string) => lb.small.find((s) => s.label === label)!
  const ratio = (a: number, b: number) => (a / b).toFixed(2)
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`
  const lat = (label: string) => {
    const s = small(label)
    return `${ratio(s.agent, s.direct)} (${s.agent.toFixed(1)} / ${s.direct.toFixed(1)} ms; first ${ratio(s.agentFirst, s.direct)})`
  }
  // aria2c moves the cluster's bytes with one SHA-1 pass per byte; layerseed also checks a sha256 per byte.
  const floor = cpuPerGb(aria) + f.sha256
  const imageMb = (fresh.imageBytes / 1e6).toFixed(0)
  const out = [
    `Shaped cluster: ${CLUSTER.hosts} hosts at ${CLUSTER.mbit} Mbit/s, registry at ${CLUSTER.originMbit} Mbit/s, layers ${CLUSTER.layersMb.join(' + ')} MB (${imageMb} MB), lower bound ${lowerBound(fresh.imageBytes).toFixed(2)} s. ` +
      `CPU-s per GB: the whole machine's busy CPU-seconds in the pull window per GB delivered to the hosts (for layerseed this includes the skopeo clients).`,
    '',
    line(['metric', 'fresh agents', 'warm agents', 'target']),
    line(['---', '---', '---', '---']),
    line([`efficiency (bound / all done), all done in s`, `${efficiency(fresh).toFixed(2)} (${allDone(fresh.result).toFixed(2)} s)`, `${efficiency(warm).toFixed(2)} (${allDone(warm.result).toFixed(2)} s)`, '≥ 0.67']),
    line([`CPU-s per GB, layerseed ÷ aria2c (aria2c: ${cpuPerGb(aria).toFixed(1)} CPU-s/GB, all done in ${allDone(aria.result).toFixed(2)} s)`, `${ratio(cpuPerGb(fresh), cpuPerGb(aria))} (${cpuPerGb(fresh).toFixed(1)})`, `${ratio(cpuPerGb(warm), cpuPerGb(aria))} (${cpuPerGb(warm).toFixed(1)})`, '≤ 1.5']),
    line([`the same, own processes only: layerseed's sidecar and agents ÷ aria2c's seeder and leechers (aria2c: ${ownPerGb(aria).toFixed(1)} CPU-s/GB)`, `${ratio(ownPerGb(fresh), ownPerGb(aria))} (${ownPerGb(fresh).toFixed(1)})`, `${ratio(ownPerGb(warm), ownPerGb(aria))} (${ownPerGb(warm).toFixed(1)})`, '-']),
    line([`single agent, ${lb.bigBytes / 1e6} MB blob, cold cache, MB/s ÷ curl from the registry (curl ${lb.big.direct.toFixed(0)} MB/s), loopback`, `${ratio(lb.big.fresh, lb.big.direct)} (${lb.big.fresh.toFixed(0)} MB/s)`, `${ratio(lb.big.warm, lb.big.direct)} (${lb.big.warm.toFixed(0)} MB/s)`, '≥ 0.5']),
    line(['4 MB blob latency through a cold agent cache ÷ direct, median of 9 (agent / direct)', lat('4 MB'), '-', '≤ 1.2']),
    line(['registry egress / image', egress(fresh).toFixed(2), egress(warm).toFixed(2), '≤ 1.05']),
    line(['1 KB latency ÷ direct', lat('1 KB'), '-', '≤ 1.2']),
    line(['100 KB latency ÷ direct', lat('100 KB'), '-', '≤ 1.2']),
    '',
    `CPU of layerseed's own processes in the fresh run: agents ${fresh.result.cpu.agents?.toFixed(1)} CPU-s, sidecar ${fresh.result.cpu.sidecar?.toFixed(1)}, of ${fresh.result.cpu.busy.toFixed(1)} busy over ${fresh.result.cpu.wall.toFixed(1)} s.`,
    `Floor on this machine: ${floor.toFixed(1)} CPU-s per GB (aria2c's ${cpuPerGb(aria).toFixed(1)}: the kernel moving the bytes through the shaped cluster plus one SHA-1 pass; plus one sha256 pass, ${f.sha256.toFixed(2)} CPU-s/GB by openssl speed; SHA-1 alone ${f.sha1.toFixed(2)}). Fresh layerseed is ${ratio(cpuPerGb(fresh), floor)}x the floor.`,
    '',
    'A lone agent, cold cache, loopback: the blob over HTTP in the torrent answer (what `--http-alone-max-bytes` allows) or through the swarm, median ms (direct from the registry):',
    '',
    line(['blob', 'direct', 'over HTTP', 'through the swarm']),
    line(['---', '---', '---', '---']),
    ...lb.crossover.map((c) => line([`${c.bytes / 1e6} MB`, c.direct.toFixed(1), `${c.http.toFixed(1)} (${ratio(c.http, c.direct)}x)`, `${c.swarm.toFixed(1)} (${ratio(c.swarm, c.direct)}x)`])),
    '',
    'Scaling, fresh agents:',
    '',
    line(['hosts', 'all done s', 'efficiency', 'CPU-s per GB', 'own CPU-s per GB', 'agents CPU-s', 'machine busy CPU-s / window s', 'registry egress / image']),
    line(['---', '---', '---', '---', '---', '---', '---', '---']),
    ...f.scaling.map((r) => line([r.hosts, allDone(r.result).toFixed(2), efficiency(r).toFixed(2), cpuPerGb(r).toFixed(1), ownPerGb(r).toFixed(1), r.result.cpu.agents?.toFixed(1) ?? '-', `${r.result.cpu.busy.toFixed(1)} / ${r.result.cpu.wall.toFixed(1)}`, egress(r).toFixed(2)])),
  ]
  return out.join('\n')
}
