import type { SidecarConfig } from './schema.js'

const isWildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === '[::]'
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host)

/**
 * Settings that are valid but almost surely a mistake outside a single host.
 * They do not stop the process: a laptop or a test runs this way on purpose.
 */
export function sidecarWarnings(config: Pick<SidecarConfig, 'listen' | 'advertiseHost' | 'webhookToken'> & Partial<Pick<SidecarConfig, 'redis' | 'replicas' | 'advertiseUrl'>>): string[] {
  const out: string[] = []
  if (isWildcard(config.listen.host) && isLoopback(config.advertiseHost)) {
    out.push(`--listen ${config.listen.host} takes connections from other hosts, but --advertise-host is ${config.advertiseHost}: the torrents' tracker URL and the seeder's address are loopback, so agents on other nodes cannot use them; set --advertise-host to an address they reach`)
  }
  if (config.webhookToken === undefined) {
    out.push('no --webhook-token (or --webhook-token-file): anyone who reaches the sidecar can post push notifications and make it fetch from the origin')
  }
  if (config.redis === undefined && ((config.replicas ?? 1) > 1 || config.advertiseUrl !== undefined)) {
    out.push('--replicas and --advertise-url are for a group of sidecars and have no effect without --redis')
  }
  return out
}
