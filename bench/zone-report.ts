import { NO_ZONES_MODE, type ModeResult } from './swarm.js'

/** Goals of a zoned run: bytes into each zone but the registry's, per image byte, at most this. */
export const ZONE_BYTES_GOAL = 1.2
/** And all hosts done at least this many times faster than without zones, when the zone links are a quarter of the hosts' rate or less. */
export const ZONE_SPEEDUP_GOAL = 1.3

/**
 * The zones table: per mode, the time until every host is done, the bytes
 * into each zone over its link per image byte, and the CPU seconds the
 * machine, the sidecar and the agents spent during the pull.
 */
export function zoneTable(results: readonly ModeResult[], imageBytes: number, spec: { hosts: number; mbit: number; zones: number; zoneMbit: number }): string {
  const flat = results.find((r) => r.mode === NO_ZONES_MODE)
  const flatAll = flat ? Math.max(...flat.hostSeconds) : undefined
  const zones = Array.from({ length: spec.zones }, (_, i) => i + 1)
  const rows = results.filter((r) => r.zoneBytesIn).map((r) => {
    const all = Math.max(...r.hostSeconds)
    const name = r.mode === 'layerseed' ? 'layerseed (zones set)' : r.mode === NO_ZONES_MODE ? 'layerseed (no zones)' : r.mode
    const cpu = r.cpu ? [r.cpu.busy, r.cpu.sidecar, r.cpu.agents].map((c) => (c === undefined ? '-' : c.toFixed(1))) : ['-', '-', '-']
    return [name, all.toFixed(2), flatAll ? `${(flatAll / all).toFixed(2)}x` : '-', ...zones.map((z) => ((r.zoneBytesIn?.[z - 1] ?? 0) / imageBytes).toFixed(2)), ...cpu]
  })
  const head = ['mode', 'all done s', 'speed-up vs no zones', ...zones.map((z) => `zone ${z}${z === 1 ? ' (registry)' : ''} in / image`), 'machine CPU-s', 'sidecar CPU-s', 'agents CPU-s']
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  const quarter = spec.zoneMbit <= spec.mbit / 4
  return [
    `${spec.zones} zones of ${spec.hosts} hosts at ${spec.mbit} Mbit/s, zone links ${spec.zoneMbit} Mbit/s each way; goals: ≤ ${ZONE_BYTES_GOAL} image into each zone but the registry's${quarter ? `, ≥ ${ZONE_SPEEDUP_GOAL}x faster than without zones` : ''}`,
    '',
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
  ].join('\n')
}
