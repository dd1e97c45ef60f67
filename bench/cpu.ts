import { readFileSync } from 'node:fs'

const TICKS_PER_S = 100

/** Busy and total CPU time of the whole machine so far, in seconds (from /proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)
  const n = f.map(Number)
  // user nice system idle iowait irq softirq steal
  const idle = n[3] + n[4]
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0)
  return { busy: (total - idle) / TICKS_PER_S, total: total / TICKS_PER_S }
}

/** User + system CPU seconds a running process has used so far; 0 once it is gone. */
export function processCpu(pid: number | undefined): number {
  if (!pid) return 0
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S
  } catch {
    return 0
  }
}

/** Extra node flags for the sidecar and agents (e.g. `--cpu-prof --cpu-prof-dir=DIR`), from LAYERSEED_BENCH_NODE_FLAGS. */
export function benchNodeFlags(): string[] {
  return (process.env.LAYERSEED_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((s) => s !== '')
}
