// Options that bound a process's disk and bandwidth: the blob cache, its
// reaper, and host-wide rate limits. Shared by the sidecar and the agent.
import cron from 'node-cron'
import { optionList, optionTable, type Problem } from './spec.js'
import { cacheLimitsOf, watermarkBytes, type CacheSettings } from '../lib/cache/policy.js'
import { parseBytes, parseRate, parseWatermark } from './units.js'

/** The cache's options: the fields the cache itself follows (lib/cache/policy.ts). */
export type CacheConfig = CacheSettings

export interface AgentRateConfig {
  readonly downloadBytesPerSec?: number
  readonly uploadBytesPerSec?: number
}

export interface SidecarRateConfig {
  readonly uploadBytesPerSec?: number
  readonly originBytesPerSec?: number
}

function cronExpression(raw: unknown): string {
  if (typeof raw !== 'string' || !cron.validate(raw.trim())) throw new Error(`want a cron expression such as "* * * * *", got ${JSON.stringify(raw)}`)
  return raw.trim()
}

const cacheOptions = optionTable<CacheConfig>()({
  cacheMaxBytes: { flag: 'cache-max-bytes', field: 'cacheMaxBytes', arg: 'SIZE', help: 'bound on the blob cache; least recently used blobs are evicted above the high watermark (default: none)', parse: parseBytes },
  cacheHighWatermark: { flag: 'cache-high-watermark', field: 'cacheHighWatermark', arg: 'PERCENT|SIZE', default: '85%', help: 'the reaper starts evicting above this share of --cache-max-bytes', parse: parseWatermark },
  cacheLowWatermark: { flag: 'cache-low-watermark', field: 'cacheLowWatermark', arg: 'PERCENT|SIZE', default: '70%', help: 'the reaper evicts down to this share of --cache-max-bytes', parse: parseWatermark },
  minFreeDiskBytes: { flag: 'min-free-disk', field: 'minFreeDiskBytes', arg: 'SIZE', default: '1GiB', help: 'floor on free space in the data dir\'s filesystem: the reaper evicts and new blobs are refused below it', parse: parseBytes },
  reapSchedule: { flag: 'reap-schedule', field: 'reapSchedule', arg: 'CRON', default: '* * * * *', help: 'when the reaper checks the cache (cron, 5 fields or 6 with seconds)', parse: cronExpression },
})

const uploadRate = { flag: 'upload-rate', field: 'uploadBytesPerSec', arg: 'RATE', help: 'host-wide limit on bytes sent to peers, e.g. 100MB/s or 800Mbit (default: none)', parse: parseRate } as const

export const agentGovernanceOptions = optionTable<CacheConfig & AgentRateConfig>()({
  ...cacheOptions,
  downloadBytesPerSec: { flag: 'download-rate', field: 'downloadBytesPerSec', arg: 'RATE', help: 'host-wide limit on blob bytes received, from peers, the sidecar and the upstream alike (default: none)', parse: parseRate },
  uploadBytesPerSec: uploadRate,
})

export const sidecarGovernanceOptions = optionTable<CacheConfig & SidecarRateConfig>()({
  ...cacheOptions,
  uploadBytesPerSec: { ...uploadRate, help: 'host-wide limit on blob bytes sent to agents, by the seeder and over HTTP (default: none)' },
  originBytesPerSec: { flag: 'origin-rate', field: 'originBytesPerSec', arg: 'RATE', help: 'limit on blob bytes fetched from the origin, so pre-seeding cannot starve the registry (default: none)', parse: parseRate },
})

/** Checks that need more than one option; each problem names the option to change. */
export function checkCacheOptions(c: Partial<CacheConfig>): Problem[] {
  if (!c.cacheHighWatermark || !c.cacheLowWatermark) return []
  const high = watermarkBytes(c.cacheHighWatermark, c.cacheMaxBytes)
  const low = watermarkBytes(c.cacheLowWatermark, c.cacheMaxBytes)
  const problems: Problem[] = []
  if (high !== undefined && c.cacheMaxBytes !== undefined && high > c.cacheMaxBytes) {
    problems.push({ key: '--cache-high-watermark', message: `${high} bytes is above --cache-max-bytes ${c.cacheMaxBytes}` })
  }
  if (high !== undefined && low !== undefined && low >= high) {
    problems.push({ key: '--cache-low-watermark', message: `${low} bytes must be below the high watermark (${high} bytes)` })
  }
  return problems
}

export { cacheLimitsOf }

/** The cache options' defaults, parsed from the option specs: for configs built in code (demo, tests). */
export function cacheDefaults(): CacheConfig {
  const out: Partial<Record<keyof CacheConfig, unknown>> = {}
  for (const s of optionList<CacheConfig>(cacheOptions)) if (s.default !== undefined) out[s.field] = s.parse(s.default)
  // Every field the type requires has a default (OptionSpec's Presence), so the parsed defaults make a whole CacheConfig.
  return out as CacheConfig
}
