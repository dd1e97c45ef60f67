import type { AgentConfig, SidecarConfig } from './schema.js'
import { agentOptions, sidecarOptions } from './schema.js'

// The fields a running process takes from an edited --config file. Any other
// change is reported as needing a restart. A part that reads one of these
// subscribes to it on the process's LiveConfig instead of keeping the value.

const cacheFields = ['cacheMaxBytes', 'cacheHighWatermark', 'cacheLowWatermark', 'minFreeDiskBytes', 'reapSchedule'] as const

export const sidecarLiveFields: ReadonlyArray<keyof SidecarConfig> = [
  ...cacheFields, 'uploadBytesPerSec', 'originBytesPerSec', 'webhookToken', 'preheatToken',
]

export const agentLiveFields: ReadonlyArray<keyof AgentConfig> = [...cacheFields, 'downloadBytesPerSec', 'uploadBytesPerSec']

/**
 * The live fields of a process as started: with token auth on, its key files
 * may change too (the verifier follows them). Turning auth on or off, or a new
 * realm, issuer or service, needs a restart.
 */
export function liveFieldsOf<T extends AgentConfig | SidecarConfig>(fields: ReadonlyArray<keyof T>, config: T): ReadonlyArray<keyof T> {
  return config.authRealm === undefined ? fields : [...fields, 'authRootCerts', 'authJwks']
}

/** The option name of a config field, for log lines an operator acts on. */
export function flagOf(field: string): string {
  return [...sidecarOptions, ...agentOptions].find((s) => s.field === field)?.flag ?? field
}
