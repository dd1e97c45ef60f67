// `npm run bench`: the swarm benchmark on a shaped cluster of network
// namespaces, then micro-benchmarks on loopback. Needs root, iproute2,
// docker-registry, skopeo, aria2c and curl.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { MODES, runSwarmBench, type Mode } from './swarm.js'
import { Procs } from './procs.js'
import { Cluster } from './cluster.js'
import { swarmTable } from './report.js'
import { runMicroBenches } from './micro.js'
import { runStartupBench } from './startup.js'
import { announceTable, runAnnounceBench } from './announce.js'

interface Args {
  hosts: number
  mbit: number
  originMbit: number
  layersMb: number[]
  warmupMb: number
  modes: Mode[]
  timeoutMs: number
  micro: boolean
  swarm: boolean
  startup: boolean
  announce: boolean
  keep: boolean
}

const HELP = `Usage: npm run bench -- [options]
  --hosts N            hosts in the cluster (default 8)
  --mbit N             upload and download limit per host, Mbit/s (default 100)
  --origin-mbit N      limit of the registry host, Mbit/s (default 100)
  --layers MB[,MB...]  layer sizes in MB (default 50)
  --warmup-mb N        MB of a separate image each agent pulls before the measured pull,
                       as long-running agents have served pulls before (default 0: none)
  --modes LIST         of ${MODES.join(',')} (default all)
  --timeout S          bound on each mode, seconds (default 300)
  --only swarm|micro|startup|announce
                       run one part (default all: startup times a sidecar and an agent on 10,000 cached blobs;
                       announce loads the tracker of three sidecars sharing a Redis, and of one alone)
  --keep               keep the work directory

Environment: LAYERSEED_BENCH_NODE_FLAGS adds node flags to the swarm's sidecar
and agents, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (with --keep to read the logs).`

function parseArgs(argv: string[]): Args {
  const a: Args = { hosts: 8, mbit: 100, originMbit: 100, layersMb: [50], warmupMb: 0, modes: [...MODES], timeoutMs: 300_000, micro: true, swarm: true, startup: true, announce: true, keep: false }
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
    else if (k === '--modes') {
      a.modes = v().split(',') as Mode[]
      for (const m of a.modes) if (!MODES.includes(m)) throw new Error(`--modes: unknown mode ${m}`)
    } else if (k === '--only') {
      const o = v()
      if (o !== 'swarm' && o !== 'micro' && o !== 'startup' && o !== 'announce') throw new Error('--only: swarm, micro, startup or announce')
      a.micro = o === 'micro'
      a.swarm = o === 'swarm'
      a.startup = o === 'startup'
      a.announce = o === 'announce'
    } else if (k === '--keep') a.keep = true
    else if (k === '--help' || k === '-h') {
      process.stdout.write(`${HELP}\n`)
      process.exit(0)
    } else throw new Error(`unknown option ${k}\n${HELP}`)
  }
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
    if (args.swarm) {
      const { results, imageBytes } = await runSwarmBench(args, path.join(work, 'swarm'), procs, log)
      process.stdout.write(`\n${swarmTable(results, imageBytes, args)}\n`)
    }
    if (args.micro) process.stdout.write(`\n${await runMicroBenches(path.join(work, 'micro'), log)}\n`)
    if (args.startup) process.stdout.write(`\n${await runStartupBench(path.join(work, 'startup'), log)}\n`)
    if (args.announce) process.stdout.write(`\n${announceTable(await runAnnounceBench(path.join(work, 'announce'), procs, log))}\n`)
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
