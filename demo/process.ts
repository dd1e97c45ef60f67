import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Spawned {
  readonly child: ChildProcess
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>
}

export function spawnLogged(cmd: string, args: string[], opts: { logFile?: string; env?: NodeJS.ProcessEnv } = {}): Spawned {
  const fd = opts.logFile ? openSync(opts.logFile, 'a') : 'ignore'
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env })
  if (typeof fd === 'number') closeSync(fd)
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    child.once('exit', () => resolve())
    child.once('error', () => resolve())
  })
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(killer)
      }
      await exited
    },
  }
}

/** Polls until fn is true; bounded by timeoutMs. */
export async function waitFor(fn: () => Promise<boolean>, opts: { timeoutMs: number; intervalMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await fn()) return
    } catch (err) {
      last = err
    }
    await sleep(opts.intervalMs)
  }
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit or a timeout. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}
