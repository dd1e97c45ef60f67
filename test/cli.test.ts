// The CLI as an operator runs it: a real process, its exit code and output.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../demo/process.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json')

/** An agent's arguments on free ports and a fresh data dir; nothing it is pointed at needs to answer. */
const dataDirs: string[] = []
after(() => {
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true })
})

function agentArgs(): string[] {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerseed-cli-'))
  dataDirs.push(dataDir)
  return ['agent', '--sidecar', 'http://127.0.0.1:9', '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--peer-port', '0', '--data-dir', dataDir, '--min-free-disk', '0']
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function untilListening(child: ChildProcess): Promise<void> {
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`)
    return out.includes('agent listening')
  }, { timeoutMs: 20_000, intervalMs: 50, what: 'the agent to listen' })
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('layerseed CLI', () => {
  it('prints usage and per-command help', () => {
    assert.match(cli('--help').out, /sidecar[\s\S]*agent[\s\S]*demo/)
    const s = cli('sidecar', '--help')
    assert.equal(s.code, 0)
    assert.match(s.out, /--origin URL/)
    assert.match(s.out, /--listen HOST:PORT.*default: 0\.0\.0\.0:7070/)
    assert.match(cli('agent', '--help').out, /--p2p-stall-timeout DURATION.*default: 10s/)
  })

  it('exits 2 naming every bad key', () => {
    const r = cli('sidecar', '--origin', 'ftp://x', '--peer-port', 'x', '--bogus', '1')
    assert.equal(r.code, 2)
    for (const key of ['--origin', '--peer-port', '--bogus']) assert.ok(r.err.includes(key), r.err)
    const a = cli('agent')
    assert.equal(a.code, 2)
    assert.match(a.err, /--sidecar: is required/)
    assert.match(a.err, /--upstream: is required/)
  })

  it('exits 2 on an unknown command', () => {
    assert.equal(cli('frobnicate').code, 2)
  })

  it('prints the version of package.json', () => {
    const { version } = JSON.parse(fs.readFileSync(PKG, 'utf8')) as { version: string }
    const r = cli('--version')
    assert.equal(r.code, 0)
    assert.equal(r.out, `${version}\n`)
  })

  it('keeps two spaces between every option and its help text', () => {
    for (const cmd of ['sidecar', 'agent']) {
      for (const line of cli(cmd, '--help').out.split('\n').filter((l) => l.startsWith('  --'))) {
        assert.match(line, /^ {2}--[a-z0-9-]+(?: \S+)? {2,}\S/, `${cmd}: ${line}`)
      }
    }
  })

  it('stops cleanly on SIGHUP', async () => {
    const child = spawn(process.execPath, [BIN, ...agentArgs()], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      await untilListening(child)
      const exited = once(child, 'exit')
      child.kill('SIGHUP')
      const [code, signal] = (await exited) as [number | null, string | null]
      assert.deepEqual([code, signal], [0, null])
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('stops when the process that started it is killed, as npx would be', async () => {
    // A shell stands in for npx: it starts the CLI, waits, and is killed with SIGKILL, which passes nothing on.
    const script = `"${process.execPath}" "${BIN}" ${agentArgs().join(' ')} & echo $!; wait`
    const wrapper = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] })
    let pid = 0
    try {
      let out = ''
      wrapper.stdout.on('data', (c: Buffer) => (out += c.toString()))
      await waitFor(async () => (pid = Number(out.split('\n')[0])) > 0 && out.includes('agent listening'), { timeoutMs: 20_000, intervalMs: 50, what: 'the agent under the shell to listen' })
      wrapper.kill('SIGKILL')
      await waitFor(async () => !alive(pid), { timeoutMs: 10_000, intervalMs: 100, what: 'the orphaned CLI to exit' })
    } finally {
      wrapper.kill('SIGKILL')
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL')
    }
  })
})
