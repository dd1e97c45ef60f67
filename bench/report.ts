import type { ModeResult } from './swarm.js'

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]
}

const mb = (n: number | undefined) => (n ? (n / 2 ** 20).toFixed(0) : '-')

/** The swarm table: one row per mode. */
export function swarmTable(results: readonly ModeResult[], imageBytes: number, spec: { hosts: number; mbit: number; originMbit: number }): string {
  const lower = Math.max(imageBytes / ((spec.mbit * 1e6) / 8), imageBytes / ((spec.originMbit * 1e6) / 8))
  const direct = results.find((r) => r.mode === 'direct')
  const directAll = direct ? Math.max(...direct.hostSeconds) : undefined
  const rows = results.map((r) => {
    const all = Math.max(...r.hostSeconds)
    return [
      r.mode,
      all.toFixed(2),
      quantile(r.hostSeconds, 0.5).toFixed(2),
      quantile(r.hostSeconds, 0.99).toFixed(2),
      directAll ? `${(directAll / all).toFixed(2)}x` : '-',
      (lower / all).toFixed(2),
      (r.egressBytes / imageBytes).toFixed(2),
      mb(r.sidecarRss),
      mb(r.agentRss),
    ]
  })
  const head = ['mode', 'all done s', 'p50 s', 'p99 s', 'speed-up vs direct', 'efficiency', 'registry egress / image', 'sidecar RSS MiB', 'agent RSS MiB']
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [
    `${spec.hosts} hosts, ${spec.mbit} Mbit/s each, registry ${spec.originMbit} Mbit/s, image ${(imageBytes / 1e6).toFixed(1)} MB; lower bound ${lower.toFixed(2)} s`,
    '',
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
  ].join('\n')
}
