import fs from 'node:fs/promises'
import path from 'node:path'
import { freePort } from '../../demo/ports.js'
import { spawnLogged, waitFor, type Spawned } from '../../demo/process.js'

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** SIGKILL: Redis gone at once, as a crashed host would leave it (nothing is saved: no RDB, no AOF). */
  kill(): Promise<void>
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/** Debian's redis-server on a free loopback port, in `dir`, keeping nothing on disk. */
export async function startRedis(dir: string): Promise<RedisServer> {
  await fs.mkdir(dir, { recursive: true })
  const port = await freePort()
  let proc: Spawned | undefined
  const start = async () => {
    const p = spawnLogged('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { logFile: path.join(dir, 'redis.log') })
    proc = p
    await waitFor(async () => {
      if (p.child.exitCode !== null) throw new Error(`redis-server exited; see ${path.join(dir, 'redis.log')}`)
      return (await fs.readFile(path.join(dir, 'redis.log'), 'utf8')).includes('Ready to accept connections')
    }, { timeoutMs: 10_000, intervalMs: 50, what: 'redis-server to accept connections' })
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      const p = proc
      if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return
      const exited = new Promise((resolve) => p.child.once('exit', resolve))
      p.child.kill('SIGKILL')
      await exited
    },
    async restart() {
      await fs.writeFile(path.join(dir, 'redis.log'), '')
      await start()
    },
    async stop() {
      await proc?.stop()
    },
  }
}
