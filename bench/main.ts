// `npm run bench`: the swarm benchmark on a shaped cluster of network
// namespaces, then micro-benchmarks on loopback. Needs root, iproute2,
// docker-registry, skopeo, aria2c and curl.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { MODES, NO_ZONES_MODE, runSwarmBench, type Mode } from './swarm.js'
import { zoneTable } from './zone-report.js'
import { Procs } from './procs.js'
import { Cluster } from './cluster.js'
import { swarmTable } from './report.js'
import { runMicroBenches } from './micro.js'
import { runStartupBench } from './startup.js'
import { runSpeedBench } from './speed.js'
import { announceTable, runAnnounceBench } from './announce.js'

/** The parts of the benchmark, in the order a full run takes them. */
const PARTS = ['swarm', 'speed', 'micro', 'startup', 'announce'] as const
type Part = (typeof PARTS)[number]

interface Args {
  hosts: number
  mbit: number
  originMbit: number
  layersMb: number[]
  warmupMb: number
  modes: Mode[]
  timeoutMs: number
  parts: ReadonlySet<Part>
  keep: boolean
  zones: number
  zoneMbit: number
}

const HELP = `Usage: npm run bench -- [options]
  --hosts N            hosts in the cluster (default 8)
  --mbit N             upload and download limit per host, Mbit/s (default 100)
  --origin-mbit N      limit of the registry host, Mbit/s (default 100)
  --layers MB[,MB...]  layer sizes in MB (default 50)
  --warmup-mb N        MB of a separate image each agent pulls before the measured pull,
                       as long-running agents have served pulls before (default 0: none)
  --modes LIST         of ${MODES.join(',')},${NO_ZONES_MODE} (default all; ${NO_ZONES_MODE} only with --zones)
  --zones N            split the hosts into N zones, each its own bridge, joined by shaped links;
                       the registry host is in zone 1. layerseed then runs with --zone set, and
                       ${NO_ZONES_MODE} runs it without (default 0: no zones)
  --zone-mbit N        rate of each zone's link, both ways, Mbit/s (default: --mbit)
  --timeout S          bound on each mode, seconds (default 300)
  --only PART[,PART...]
                       run only these of ${PARTS.join(',')} (default all). swarm: the modes above on
                       the cluster above. speed: the CPU-per-byte targets, 6 hosts at 80 Mbit/s beside
                       aria2c with fresh and warm agents, the loopback single-agent and small-blob
                       figures, hosts 2 to 12 and this machine's floor (its own cluster: --hosts,
                       --mbit and --layers do not apply). micro: loopback throughput, latencies and
                       webhook intake. startup: a sidecar and an agent on 10,000 cached blobs.
                       announce: the tracker of three sidecars sharing a Redis, and of one alone.
  --keep               keep the work directory

Environment: LAYERSEED_BENCH_NODE_FLAGS adds node flags to the swarm's sidecar
and agents, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (with --keep to read the logs).`

function parseArgs(argv: string[]): Args {
  const a: Args = { hosts: 8, mbit: 100, originMbit: 100, layersMb: [50], warmupMb: 0, modes: [...MODES], timeoutMs: 300_000, parts: new Set(PARTS), keep: false, zones: 0, zoneMbit: 0 }
  let modesGiven = false
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = () => {
      const x = argv[++i]
      if (x === undefined) throw new Error(`${k} needs a value`)
      return x
    }
    const num = (x: string, min: number, max: number) => {
      const n = Number(x)
      if (!(n >= min && n <= max)) throw new Error(`${k}: want a number from ${min} to ${max}, got ${x}`)
      return n
    }
    if (k === '--hosts') a.hosts = num(v(), 1, 60)
    else if (k === '--mbit') a.mbit = num(v(), 1, 10_000)
    else if (k === '--origin-mbit') a.originMbit = num(v(), 1, 10_000)
    else if (k === '--warmup-mb') a.warmupMb = num(v(), 0, 4096)
    else if (k === '--layers') a.layersMb = v().split(',').map((x) => num(x, 0.001, 4096))
    else if (k === '--timeout') a.timeoutMs = num(v(), 5, 3600) * 1000
    else if (k === '--zones') a.zones = num(v(), 0, 8)
    else if (k === '--zone-mbit') a.zoneMbit = num(v(), 1, 10_000)
    else if (k === '--modes') {
      a.modes = v().split(',') as Mode[]
      modesGiven = true
      for (const m of a.modes) if (!MODES.includes(m) && m !== NO_ZONES_MODE) throw new Error(`--modes: unknown mode ${m}`)
    } else if (k === '--only') {
      const list = v().split(',')
      for (const o of list) if (!(PARTS as readonly string[]).includes(o)) throw new Error(`--only: want some of ${PARTS.join(',')}, got ${o}`)
      a.parts = new Set(list as Part[])
    } else if (k === '--keep') a.keep = true
    else if (k === '--help' || k === '-h') {
      process.stdout.write(`${HELP}\n`)
      process.exit(0)
    } else throw new Error(`unknown option ${k}\n${HELP}`)
  }
  if (a.zones === 1) throw new Error('--zones: want 0 (none) or 2 and more')
  if (a.zones > a.hosts) throw new Error(`--zones ${a.zones}: more zones than --hosts ${a.hosts}`)
  if (a.zones === 0 && a.modes.includes(NO_ZONES_MODE)) throw new Error(`--modes: ${NO_ZONES_MODE} needs --zones`)
  if (a.zones > 0 && !modesGiven) a.modes = [...MODES.filter((m) => m !== 'layerseed'), NO_ZONES_MODE, 'layerseed']
  if (a.zoneMbit === 0) a.zoneMbit = a.mbit
  return a
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2))
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-bench-'))
  const procs = new Procs()
  const cleanup = () => {
    procs.killAllNow()
    Cluster.sweep()
  }
  process.once('exit', cleanup)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup()
      process.exit(130)
    })
  }
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`)
  try {
    log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`)
    if (args.parts.has('swarm')) {
      const { results, imageBytes } = await runSwarmBench(args, path.join(work, 'swarm'), procs, log)
      process.stdout.write(`\n${swarmTable(results, imageBytes, args)}\n`)
      if (args.zones > 1) process.stdout.write(`\n${zoneTable(results, imageBytes, args)}\n`)
    }
    if (args.parts.has('speed')) process.stdout.write(`\n${await runSpeedBench(path.join(work, 'speed'), procs, log, args.timeoutMs)}\n`)
    if (args.parts.has('micro')) process.stdout.write(`\n${await runMicroBenches(path.join(work, 'micro'), log)}\n`)
    if (args.parts.has('startup')) process.stdout.write(`\n${await runStartupBench(path.join(work, 'startup'), log)}\n`)
    if (args.parts.has('announce')) process.stdout.write(`\n${announceTable(await runAnnounceBench(path.join(work, 'announce'), procs, log))}\n`)
    return 0
  } finally {
    await procs.stopAll()
    Cluster.sweep()
    if (!args.keep) await fs.rm(work, { recursive: true, force: true })
    else log(`work directory kept: ${work}`)
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
