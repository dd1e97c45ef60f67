import { readFileSync } from 'node:fs'
import { spawnLogged, type Spawned } from '../demo/process.js'

/**
 * Every process the benchmark starts, so that all of them are stopped on any
 * exit: normal end, failure, or Ctrl-C.
 */
export class Procs {
  private readonly all = new Set<Spawned>()

  start(cmd: string[], logFile: string): Spawned {
    const [bin, ...args] = cmd
    const p = spawnLogged(bin, args, { logFile })
    this.all.add(p)
    return p
  }

  async stop(p: Spawned): Promise<void> {
    await p.stop()
    this.all.delete(p)
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.all].map((p) => p.stop()))
    this.all.clear()
  }

  /** For process 'exit' handlers, which cannot wait. */
  killAllNow(): void {
    for (const p of this.all) p.child.kill('SIGKILL')
  }
}

/** Peak resident set size of a running process, in bytes. */
export function peakRss(pid: number | undefined): number {
  if (!pid) return 0
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}
