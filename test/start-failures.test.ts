// A process that cannot do its job stops at start with one line naming why,
// instead of running on half-started: the real CLI, a port held by this test.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../demo/ports.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')

/** Runs the CLI until it exits (at most 15 s, then it is killed and the test fails on its code). */
function run(args: string[]): Promise<{ code: number | null; err: string; ms: number }> {
  const started = Date.now()
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  return new Promise((resolve) => child.once('exit', (code) => {
    clearTimeout(timer)
    resolve({ code, err, ms: Date.now() - started })
  }))
}

describe('start failures', () => {
  let root: string
  let held: net.Server
  let port: number
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-start-'))
    held = net.createServer()
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve))
    port = (held.address() as net.AddressInfo).port
  })
  after(async () => {
    await new Promise((resolve) => held.close(resolve))
    await fs.rm(root, { recursive: true, force: true })
  })

  const agentArgs = (over: string[], dataDir = path.join(root, 'agent')) => ['agent', '--sidecar', 'http://127.0.0.1:9', '--upstream', 'http://127.0.0.1:9', '--data-dir', dataDir, '--log-level', 'fatal', ...over]
  const sidecarArgs = (over: string[]) => ['sidecar', '--origin', 'http://127.0.0.1:9', '--data-dir', path.join(root, 'sidecar'), '--log-level', 'fatal', ...over]

  const expectOneLine = (r: { code: number | null; err: string; ms: number }, line: RegExp) => {
    assert.notEqual(r.code, 0, r.err)
    assert.notEqual(r.code, null, 'the process did not exit by itself')
    assert.ok(r.ms < 10_000, `exited after ${r.ms} ms`)
    const lines = r.err.trim().split('\n')
    assert.equal(lines.length, 1, r.err)
    assert.match(lines[0], line)
  }

  it('a taken --peer-port ends the agent and the sidecar, naming the flag and the port', async () => {
    expectOneLine(await run(agentArgs(['--listen', `127.0.0.1:${await freePort()}`, '--peer-port', String(port)])), new RegExp(`^layerseed agent: --peer-port ${port}: address already in use$`))
    expectOneLine(await run(sidecarArgs(['--listen', `127.0.0.1:${await freePort()}`, '--peer-port', String(port)])), new RegExp(`^layerseed sidecar: --peer-port ${port}: address already in use$`))
  })

  it('a taken --listen port ends them the same way', async () => {
    expectOneLine(await run(agentArgs(['--listen', `127.0.0.1:${port}`, '--peer-port', '0'])), new RegExp(`^layerseed agent: --listen 127\\.0\\.0\\.1:${port}: address already in use$`))
    expectOneLine(await run(sidecarArgs(['--listen', `127.0.0.1:${port}`, '--peer-port', '0'])), new RegExp(`^layerseed sidecar: --listen 127\\.0\\.0\\.1:${port}: address already in use$`))
  })

  it('a data dir that cannot be written ends them, naming it', async () => {
    // Under a regular file: not writable even for root.
    const file = path.join(root, 'a-file')
    await fs.writeFile(file, '')
    const r = await run(agentArgs(['--listen', '127.0.0.1:0', '--peer-port', '0'], path.join(file, 'data')))
    expectOneLine(r, /^layerseed agent: --data-dir .*a-file\/data: not writable \(ENOTDIR\)$/)
  })
})
