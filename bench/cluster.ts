import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { run } from '../demo/process.js'

/**
 * A cluster of hosts made of network namespaces on one machine: one veth pair
 * per host into a bridge, `tc tbf` limiting each host's upload (egress of its
 * eth0) and download (egress of the bridge side). Addresses come from
 * 198.18.0.0/24, the range reserved for benchmarks; no namespace has a
 * default route, so no packet can leave for any other address.
 *
 * With zones, each zone is a bridge of its own holding its hosts, and the
 * zones are joined to a core bridge (which holds the root namespace's
 * address) by one veth pair per zone, shaped both ways to the zone link's
 * rate: every byte between zones crosses two zone links, and the bytes into
 * a zone are the transmit counter of its link's core side. The registry host
 * is in zone 1. Still one /24, so no routes change.
 */
export interface Host {
  readonly name: string
  /** The namespace name. */
  readonly ns: string
  readonly ip: string
  /** The bridge-side veth in the root namespace. */
  readonly peerIf: string
  /** 1-based; 1 without zones. */
  readonly zone: number
}

export interface ClusterSpec {
  readonly hosts: number
  readonly mbit: number
  readonly originMbit: number
  /** Zones the hosts are split into, in blocks (0 or 1: none). */
  readonly zones?: number
  /** Rate of each zone's link to the core, both ways, Mbit/s. */
  readonly zoneMbit?: number
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

  private constructor(registry: Host, hosts: Host[], readonly zones: number) {
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
    // Zone bridges and zone links (deleting one end of a veth pair deletes both).
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    for (const m of links.matchAll(new RegExp(`^\\d+: (${PREFIX}-z[lb]\\d+)[@:]`, 'gm'))) tryQuiet('ip', ['link', 'del', m[1]])
  }

  static create(spec: ClusterSpec): Cluster {
    Cluster.sweep()
    sh('ip', ['link', 'add', BRIDGE, 'type', 'bridge'])
    sh('ip', ['addr', 'add', `${ROOT_IP}/24`, 'dev', BRIDGE])
    sh('ip', ['link', 'set', BRIDGE, 'up'])
    const zones = Math.max(1, spec.zones ?? 1)
    const bridgeOf = (zone: number) => (zones > 1 ? `${PREFIX}-zb${zone}` : BRIDGE)
    if (zones > 1) {
      const rate = spec.zoneMbit ?? spec.mbit
      for (let z = 1; z <= zones; z++) {
        const zb = bridgeOf(z)
        sh('ip', ['link', 'add', zb, 'type', 'bridge'])
        sh('ip', ['link', 'set', zb, 'up'])
        // zl: the zone bridge's port (its egress leaves the zone); zc: the core's port (its egress enters the zone).
        sh('ip', ['link', 'add', `${PREFIX}-zl${z}`, 'type', 'veth', 'peer', 'name', `${PREFIX}-zc${z}`])
        sh('ip', ['link', 'set', `${PREFIX}-zl${z}`, 'master', zb])
        sh('ip', ['link', 'set', `${PREFIX}-zc${z}`, 'master', BRIDGE])
        sh('ip', ['link', 'set', `${PREFIX}-zl${z}`, 'up'])
        sh('ip', ['link', 'set', `${PREFIX}-zc${z}`, 'up'])
        shape(undefined, `${PREFIX}-zl${z}`, rate)
        shape(undefined, `${PREFIX}-zc${z}`, rate)
      }
    }
    const make = (i: number, name: string, mbit: number, zone: number): Host => {
      const ns = `${PREFIX}-${name}`
      const peerIf = `${PREFIX}-v${i}`
      const ip = `198.18.0.${i}`
      sh('ip', ['netns', 'add', ns])
      sh('ip', ['link', 'add', peerIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      sh('ip', ['link', 'set', peerIf, 'master', bridgeOf(zone)])
      sh('ip', ['link', 'set', peerIf, 'up'])
      sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
      sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
      sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'eth0', 'up'])
      shape(ns, 'eth0', mbit)
      shape(undefined, peerIf, mbit)
      return { name, ns, ip, peerIf, zone }
    }
    const cluster = new Cluster(
      make(1, 'registry', spec.originMbit, 1),
      Array.from({ length: spec.hosts }, (_, i) => make(11 + i, `host${i + 1}`, spec.mbit, Math.floor((i * zones) / spec.hosts) + 1)),
      zones,
    )
    return cluster
  }

  /** Bytes that entered zone `zone` (1-based) over its link so far; 0 without zones. */
  zoneBytesIn(zone: number): number {
    if (this.zones < 2) return 0
    return Number(readFileSync(`/sys/class/net/${PREFIX}-zc${zone}/statistics/tx_bytes`, 'utf8'))
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
    for (let z = 1; this.zones > 1 && z <= this.zones; z++) {
      tryQuiet('ip', ['link', 'del', `${PREFIX}-zl${z}`])
      tryQuiet('ip', ['link', 'del', `${PREFIX}-zb${z}`])
    }
  }
}

export const rootIp = ROOT_IP
