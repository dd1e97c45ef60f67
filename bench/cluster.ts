import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { run } from '../demo/process.js'

/**
 * A cluster of hosts made of network namespaces on one machine: one veth pair
 * per host into a bridge, `tc tbf` limiting each host's upload (egress of its
 * eth0) and download (egress of the bridge side). Addresses come from
 * 198.18.0.0/24, the range reserved for benchmarks; no namespace has a
 * default route, so no packet can leave for any other address.
 */
export interface Host {
  readonly name: string
  /** The namespace name. */
  readonly ns: string
  readonly ip: string
  /** The bridge-side veth in the root namespace. */
  readonly peerIf: string
}

export interface ClusterSpec {
  readonly hosts: number
  readonly mbit: number
  readonly originMbit: number
}

const PREFIX = 'lsb'
const BRIDGE = `${PREFIX}-br0`
const ROOT_IP = '198.18.0.254'

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

function tryQuiet(cmd: string, args: string[]): void {
  try {
    sh(cmd, args)
  } catch {
    // already gone
  }
}

/** tbf on egress; burst sized for ~4 ms at the rate (at least 32 KiB) so shaping stays smooth. */
function shape(ns: string | undefined, dev: string, mbit: number): void {
  const burstBytes = Math.max(32 * 1024, Math.round((mbit * 1e6) / 8 / 250))
  const tc = ['qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burstBytes), 'latency', '200ms']
  if (ns) sh('ip', ['netns', 'exec', ns, 'tc', ...tc])
  else sh('tc', tc)
}

export class Cluster {
  readonly registry: Host
  readonly hosts: readonly Host[]
  private destroyed = false

  private constructor(registry: Host, hosts: Host[]) {
    this.registry = registry
    this.hosts = hosts
  }

  /** Removes whatever an earlier run left behind (names with our prefix only). */
  static sweep(): void {
    const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    for (const line of list.split('\n')) {
      const name = line.split(' ')[0]
      if (name.startsWith(`${PREFIX}-`)) tryQuiet('ip', ['netns', 'del', name])
    }
    tryQuiet('ip', ['link', 'del', BRIDGE])
  }

  static create(spec: ClusterSpec): Cluster {
    Cluster.sweep()
    sh('ip', ['link', 'add', BRIDGE, 'type', 'bridge'])
    sh('ip', ['addr', 'add', `${ROOT_IP}/24`, 'dev', BRIDGE])
    sh('ip', ['link', 'set', BRIDGE, 'up'])
    const make = (i: number, name: string, mbit: number): Host => {
      const ns = `${PREFIX}-${name}`
      const peerIf = `${PREFIX}-v${i}`
      const ip = `198.18.0.${i}`
      sh('ip', ['netns', 'add', ns])
      sh('ip', ['link', 'add', peerIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      sh('ip', ['link', 'set', peerIf, 'master', BRIDGE])
      sh('ip', ['link', 'set', peerIf, 'up'])
      sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
      sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
      sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'eth0', 'up'])
      shape(ns, 'eth0', mbit)
      shape(undefined, peerIf, mbit)
      return { name, ns, ip, peerIf }
    }
    const cluster = new Cluster(
      make(1, 'registry', spec.originMbit),
      Array.from({ length: spec.hosts }, (_, i) => make(11 + i, `host${i + 1}`, spec.mbit)),
    )
    return cluster
  }

  /** Bytes the host has sent through its interface (what left it, shaped). */
  txBytes(host: Host): number {
    return Number(readFileSync(`/sys/class/net/${host.peerIf}/statistics/rx_bytes`, 'utf8'))
  }

  exec(host: Host, cmd: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
    return run('ip', ['netns', 'exec', host.ns, cmd, ...args], { timeoutMs })
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const h of [this.registry, ...this.hosts]) tryQuiet('ip', ['netns', 'del', h.ns])
    tryQuiet('ip', ['link', 'del', BRIDGE])
  }
}

export const rootIp = ROOT_IP
