import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../demo/ports.js'
import { spawnLogged, waitFor, type Spawned } from '../../demo/process.js'
import { ownerOrder, type MembersAnswer } from '../../lib/protocol/owners.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/layerseed.js')

/** A CLI process of a test, on a port chosen up front (so a registry can be told where to notify before it starts). */
export interface Proc {
  readonly port: number
  readonly url: string
  readonly log: string
  proc?: Spawned
}

/** Starts `layerseed <args>` and waits for /healthz. */
export async function startCli(p: Proc, args: string[]): Promise<void> {
  const s = spawnLogged(process.execPath, [BIN, ...args, '--listen', `127.0.0.1:${p.port}`, '--peer-port', '0', '--min-free-disk', '0', '--log-level', 'info'], { logFile: p.log })
  p.proc = s
  await waitFor(async () => {
    if (s.child.exitCode !== null) throw new Error(`exited; see ${p.log}`)
    return (await fetch(`${p.url}/healthz`)).ok
  }, { timeoutMs: 20_000, intervalMs: 100, what: p.log })
}

export async function proc(root: string, name: string): Promise<Proc> {
  const port = await freePort()
  return { port, url: `http://127.0.0.1:${port}`, log: path.join(root, `${name}.log`) }
}

/** SIGKILL, and wait until it is gone. */
export async function kill9(p: Proc): Promise<void> {
  const s = p.proc
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return
  const exited = new Promise((resolve) => s.child.once('exit', resolve))
  s.child.kill('SIGKILL')
  await exited
}

export async function members(url: string): Promise<MembersAnswer> {
  const res = await fetch(`${url}/v1/members`)
  if (!res.ok) throw new Error(`${url}/v1/members: HTTP ${res.status}`)
  return (await res.json()) as MembersAnswer
}

/** Until every sidecar lists exactly `urls` as the group. */
export async function groupFormed(urls: readonly string[], timeoutMs = 20_000): Promise<void> {
  const want = [...urls].sort().join()
  await waitFor(async () => {
    for (const u of urls) if ((await members(u)).members.map((m) => m.url).sort().join() !== want) return false
    return true
  }, { timeoutMs, intervalMs: 200, what: `every member to list ${want}` })
}

/** A blob's owners' URLs, best first, as the group computes them. */
export async function ownersOf(anyMember: string, digestHex: string): Promise<string[]> {
  return ownerOrder(digestHex, (await members(anyMember)).members).map((m) => m.url)
}

export async function blobState(url: string, digest: string): Promise<{ state: string; infoHash?: string }> {
  return (await (await fetch(`${url}/v1/blobs/${digest}`)).json()) as { state: string; infoHash?: string }
}
