import path from 'node:path'
import { withSecretFile, type AuthFields } from './auth-options.js'
import { agentAuthOptions, sidecarAuthOptions, type OriginCredentialFields, type UpstreamCredentialFields } from './credential-options.js'
import { agentGovernanceOptions, sidecarGovernanceOptions, type AgentRateConfig, type CacheConfig, type SidecarRateConfig } from './governance.js'
import { sidecarGroupOptions, type GroupFields } from './group-options.js'
import { optionList, optionTable } from './spec.js'
import { parseBytes, parseDuration } from './units.js'
import { httpUrl } from './urls.js'
import { parsePlaceName } from '../lib/core/place.js'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

export interface HostPort {
  readonly host: string
  readonly port: number
}

export interface SidecarConfig extends AuthFields, OriginCredentialFields, CacheConfig, SidecarRateConfig, GroupFields {
  readonly listen: HostPort
  readonly origin: string
  readonly dataDir: string
  readonly webhookToken?: string
  readonly preheatToken?: string
  readonly advertiseHost: string
  readonly peerPort: number
  readonly zone?: string
  readonly rack?: string
  readonly fetchConcurrency: number
  readonly queueMax: number
  readonly intakeRetryForMs: number
  readonly webhookConcurrency: number
  readonly logLevel: LogLevel
}

export interface AgentConfig extends AuthFields, UpstreamCredentialFields, CacheConfig, AgentRateConfig {
  readonly listen: HostPort
  readonly sidecars: readonly string[]
  readonly upstreams: readonly string[]
  readonly dataDir: string
  readonly advertiseHost: string
  readonly peerPort: number
  readonly zone?: string
  readonly rack?: string
  readonly p2pStallTimeoutMs: number
  readonly httpMaxBytes: number
  readonly httpAloneMaxBytes: number
  readonly logLevel: LogLevel
}

function str(raw: unknown): string {
  if (typeof raw === 'number') return String(raw)
  if (typeof raw !== 'string' || raw.trim() === '') throw new Error(`want a non-empty string, got ${JSON.stringify(raw)}`)
  return raw.trim()
}

export function parsePort(raw: unknown): number {
  const n = typeof raw === 'number' ? raw : Number(str(raw))
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`want a port 0..65535, got ${JSON.stringify(raw)}`)
  return n
}

export function parseHostPort(raw: unknown): HostPort {
  const s = str(raw)
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s)
  if (!m) throw new Error(`want HOST:PORT, got ${JSON.stringify(s)}`)
  return { host: m[1] ?? m[2], port: parsePort(m[3]) }
}

/** An http(s) base URL without credentials, query or fragment, normalized without a trailing slash. */
export function parseBaseUrl(raw: unknown): string {
  const u = httpUrl(str(raw))
  if (u.search || u.hash) throw new Error('a query or fragment does not belong in the URL')
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`
}

function intIn(min: number, max: number) {
  return (raw: unknown): number => {
    const n = typeof raw === 'number' ? raw : Number(str(raw))
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`want an integer ${min}..${max}, got ${JSON.stringify(raw)}`)
    return n
  }
}

function logLevel(raw: unknown): LogLevel {
  const s = str(raw) as LogLevel
  if (!LOG_LEVELS.includes(s)) throw new Error(`want one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`)
  return s
}

// Resolved once here, so a running process never depends on its working directory.
const dataDir = (def: string) => ({ flag: 'data-dir', field: 'dataDir', arg: 'DIR', default: def, help: 'where blobs are stored; nothing is written outside it', parse: (raw: unknown) => path.resolve(str(raw)) }) as const
const advertiseHost = { flag: 'advertise-host', field: 'advertiseHost', arg: 'HOST', default: '127.0.0.1', help: 'address other hosts use to reach this process\'s peer port', parse: str } as const
const zone = { flag: 'zone', field: 'zone', arg: 'NAME', help: 'this host\'s zone (e.g. the node\'s topology.kubernetes.io/zone): peers of the same zone are preferred, each piece enters a zone about once (default: none)', parse: parsePlaceName } as const
const rack = { flag: 'rack', field: 'rack', arg: 'NAME', help: 'this host\'s rack inside its zone: peers of the same rack come first (default: none)', parse: parsePlaceName } as const
const logLevelOption = { flag: 'log-level', field: 'logLevel', arg: 'LEVEL', default: 'info', help: LOG_LEVELS.join('|'), parse: logLevel } as const

// In the order of --help; the compiler holds each table to its config type, field for field.
export const sidecarOptionTable = optionTable<SidecarConfig>()({
  listen: { flag: 'listen', field: 'listen', arg: 'HOST:PORT', default: '0.0.0.0:7070', help: 'webhooks, torrents, tracker and status, all on this port', parse: parseHostPort },
  origin: { flag: 'origin', field: 'origin', arg: 'URL', required: true, help: 'the registry to fetch blobs and manifests from (the only host ever fetched)', parse: parseBaseUrl },
  dataDir: dataDir('/var/lib/layerseed/sidecar'),
  webhookToken: withSecretFile({ flag: 'webhook-token', field: 'webhookToken', arg: 'TOKEN', help: 'require Authorization: Bearer TOKEN on webhooks (default: none)', parse: str }),
  preheatToken: withSecretFile({ flag: 'preheat-token', field: 'preheatToken', arg: 'TOKEN', help: 'Authorization: Bearer TOKEN that Harbor preheat providers must send; preheat endpoints refuse everyone without it (default: none)', parse: str }),
  advertiseHost,
  peerPort: { flag: 'peer-port', field: 'peerPort', arg: 'PORT', default: '6881', help: 'TCP port of the seeder (0: any free port)', parse: parsePort },
  zone,
  rack,
  fetchConcurrency: { flag: 'fetch-concurrency', field: 'fetchConcurrency', arg: 'N', default: '4', help: 'origin fetches at once for pre-seeding', parse: intIn(1, 64) },
  queueMax: { flag: 'queue-max', field: 'queueMax', arg: 'N', default: '10000', help: 'pre-seed targets held (queued, running or waiting for the origin) before webhooks get 503', parse: intIn(1, 1_000_000) },
  intakeRetryForMs: { flag: 'intake-retry-for', field: 'intakeRetryForMs', arg: 'DURATION', default: '30m', help: 'how long an accepted target is tried again while the origin is unreachable or failing', parse: parseDuration },
  webhookConcurrency: { flag: 'webhook-concurrency', field: 'webhookConcurrency', arg: 'N', default: '32', help: 'webhook requests handled at once; more get 503 with Retry-After', parse: intIn(1, 10_000) },
  ...sidecarAuthOptions,
  ...sidecarGovernanceOptions,
  ...sidecarGroupOptions,
  logLevel: logLevelOption,
})

export const agentOptionTable = optionTable<AgentConfig>()({
  listen: { flag: 'listen', field: 'listen', arg: 'HOST:PORT', default: '127.0.0.1:65001', help: 'the registry mirror address runtimes are pointed at', parse: parseHostPort },
  sidecars: { flag: 'sidecar', field: 'sidecars', arg: 'URL', required: true, repeatable: true, help: 'a sidecar to ask for torrents (repeatable; tried in order)', parse: parseBaseUrl },
  upstreams: { flag: 'upstream', field: 'upstreams', arg: 'URL', required: true, repeatable: true, help: 'a registry this agent mirrors (repeatable; the first is the default)', parse: parseBaseUrl },
  dataDir: dataDir('/var/lib/layerseed/agent'),
  advertiseHost,
  peerPort: { flag: 'peer-port', field: 'peerPort', arg: 'PORT', default: '6882', help: 'TCP port for peers (0: any free port)', parse: parsePort },
  zone,
  rack,
  p2pStallTimeoutMs: { flag: 'p2p-stall-timeout', field: 'p2pStallTimeoutMs', arg: 'DURATION', default: '10s', help: 'fetch the rest from the upstream when the swarm makes no progress this long', parse: parseDuration },
  httpMaxBytes: { flag: 'http-max-bytes', field: 'httpMaxBytes', arg: 'SIZE', default: '1MiB', help: 'blobs up to this size come over HTTP from the sidecar\'s cache, not the swarm', parse: parseBytes },
  httpAloneMaxBytes: { flag: 'http-alone-max-bytes', field: 'httpAloneMaxBytes', arg: 'SIZE', default: '8MiB', help: 'blobs up to this size also come over HTTP while no other node is fetching or sharing them (the sidecar decides)', parse: parseBytes },
  ...agentAuthOptions,
  ...agentGovernanceOptions,
  logLevel: logLevelOption,
})

export const sidecarOptions = optionList<SidecarConfig>(sidecarOptionTable)
export const agentOptions = optionList<AgentConfig>(agentOptionTable)
