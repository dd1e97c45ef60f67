import type { CacheConfig } from './governance.js'
import { agentOptions, sidecarOptions, type AgentConfig, type SidecarConfig } from './schema.js'

// The fields a running process takes from an edited --config file. Any other
// change is reported as needing a restart. A part that reads one of these
// subscribes to it on the process's LiveConfig instead of keeping the value.

const cacheFields: ReadonlyArray<keyof CacheConfig> = ['cacheMaxBytes', 'cacheHighWatermark', 'cacheLowWatermark', 'minFreeDiskBytes', 'reapSchedule']

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

export type ConfigField = keyof SidecarConfig | keyof AgentConfig

/**
 * The option name of a config field, for log lines an operator acts on. A
 * name written out must be a field of either config; a name known only at run
 * time (a key of a changed snapshot) is a plain string, and one that names no
 * field is returned as it is.
 */
export function flagOf<F extends string>(field: F & (string extends F ? unknown : ConfigField)): string {
  return [...sidecarOptions, ...agentOptions].find((s) => s.field === field)?.flag ?? field
}
