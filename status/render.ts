// How `layerseed status` reads to a person: a few lines per process, a bar per pull.
import type { Writable } from 'node:stream'
import { MultiBar, Presets } from 'cli-progress'
import type { CacheView, FetchView, PullView, Snapshot } from './fetch.js'

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function bytes(n: number): string {
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return `${u === 0 ? v : v.toFixed(1)} ${UNITS[u]}`
}

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12)

function cacheLine(c: CacheView): string {
  const of = c.maxBytes === null ? 'unbounded' : `of ${bytes(c.maxBytes)} (${Math.round((100 * c.usedBytes) / Math.max(c.maxBytes, 1))} %)`
  return `  cache    ${bytes(c.usedBytes)} ${of}, ${c.blobs} blobs, ${c.pinned} in use, ${bytes(c.freeDiskBytes)} free on disk`
}

function fetchLine(f: FetchView): string {
  const size = f.size === undefined ? '?' : bytes(f.size)
  return `    ${short(f.digest)}  ${bytes(f.bytesFetched ?? 0)} of ${size} from the origin`
}

/** The text above the bars. */
export function summary(s: Snapshot): string {
  const lines: string[] = []
  if (s.sidecar) {
    const b = s.sidecar.blobs.counts
    lines.push(`sidecar ${s.sidecar.url}`, cacheLine(s.sidecar.cache))
    lines.push(`  blobs    ${b.seeding} seeding, ${b.fetching} fetching, ${b.failed} failed; ${s.sidecar.queued} queued for pre-seeding`)
    lines.push(...s.sidecar.blobs.fetching.map(fetchLine))
  }
  if (s.agent) {
    const src = s.agent.bytesBySource
    if (lines.length) lines.push('')
    lines.push(`agent ${s.agent.url}`, cacheLine(s.agent.cache))
    lines.push(`  served   ${Object.entries(src).map(([k, v]) => `${k} ${bytes(v)}`).join(', ')}`)
    const z = s.agent.peerBytesByZone
    if (z) lines.push(`  peers    ${bytes(z.same)} from this zone, ${bytes(z.other)} from other zones`)
    lines.push(`  pulls    ${s.agent.pulls.length === 0 ? 'none in flight' : `${s.agent.pulls.length} in flight`}`)
  }
  return `${lines.join('\n')}\n`
}

/** One bar per pull, drawn once by cli-progress into `out`. */
export function drawPulls(pulls: readonly PullView[], out: Writable): void {
  if (pulls.length === 0) return
  const bars = new MultiBar(
    {
      stream: out as NodeJS.WriteStream,
      format: '  {digest} [{bar}] {percentage}% {done} of {size}  {rate}/s  {peers} peers  {repo}',
      noTTYOutput: true,
      hideCursor: false,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 30,
      // Drawn once per snapshot: the refresh is ours, not the library's timer.
      notTTYSchedule: 60_000,
      fps: 1,
    },
    Presets.shades_classic,
  )
  for (const p of pulls) {
    const total = p.size ?? Math.max(p.bytes, 1)
    bars.create(total, p.bytes, { digest: short(p.digest), repo: p.repo, done: bytes(p.bytes), size: p.size === null ? '?' : bytes(p.size), rate: bytes(p.rate), peers: p.peers })
  }
  bars.stop()
}
