// `layerseed status`, the real CLI, against a running agent while a
// rate-limited pull is in flight, and against a sidecar; and its one line
// and exit 1 for a process that does not answer.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../demo/ports.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { waitFor } from '../demo/process.js'
import type { RunningAgent } from '../plugin/run.js'
import type { RunningSidecar } from '../sidecar/run.js'
import { Parts } from './helpers/parts.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const MB = 1 << 20
const REPO = 'library/status'

/** Runs the CLI to its end; never rejects, so a test reads the exit code. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

interface PullJson {
  digest: string
  repo: string
  size: number | null
  bytes: number
  rate: number
  started: string
  bytesBySource: Record<string, number>
}

describe('layerseed status', () => {
  let root: string
  let registry: Registry | undefined
  let image: OciImage
  let sidecar: RunningSidecar
  let agent: RunningAgent
  const parts = new Parts(() => registry!.url)
  const pulls: Array<Promise<unknown>> = []
  const aborts = new AbortController()

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-status-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [10 * MB] })
    await skopeoPush(image, registry.host, `${REPO}:1.0`)
    sidecar = await parts.sidecar(path.join(root, 'sidecar'))
    agent = await parts.agent(path.join(root, 'agent'), [sidecar.url], { downloadBytesPerSec: 1 * MB })
  })

  after(async () => {
    aborts.abort()
    await Promise.allSettled(pulls)
    await parts.close()
    await registry?.stop().catch(() => undefined)
    if (root) await fs.rm(root, { recursive: true, force: true })
  })

  it('lists a rate-limited pull in flight with its bytes so far, as JSON and as bars', async () => {
    const layer = image.layers[0]
    const started = Date.now()
    const body = fetch(`${agent.url}/v2/${REPO}/blobs/${layer.digest}`, { signal: aborts.signal }).then(async (r) => Buffer.from(await r.arrayBuffer()))
    pulls.push(body.catch(() => undefined))
    // The JSON and the text form are read at the same moment, both while the pull runs.
    let pull: PullJson | undefined
    let text = ''
    await waitFor(async () => {
      const [json, human] = await Promise.all([cli(['status', '--agent', agent.url, '--json']), cli(['status', '--agent', agent.url, '--sidecar', sidecar.url])])
      assert.equal(json.code, 0, json.stderr)
      assert.equal(human.code, 0, human.stderr)
      const doc = JSON.parse(json.stdout) as { agent: { pulls: PullJson[] } }
      pull = doc.agent.pulls.find((p) => p.digest === layer.digest)
      text = human.stdout
      return pull !== undefined && pull.bytes > 0 && text.includes('1 in flight')
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'the pull listed with bytes' })
    assert.ok(pull)
    assert.equal(pull.repo, REPO)
    assert.equal(pull.size, layer.size)
    assert.ok(pull.bytes > 0 && pull.bytes < layer.size, `0 < ${pull.bytes} < ${layer.size}`)
    assert.ok(Date.parse(pull.started) >= started - 1000)

    assert.match(text, /^agent http:\/\/127\.0\.0\.1:\d+$/m)
    assert.match(text, /1 in flight/)
    assert.match(text, new RegExp(`${layer.digest.slice(7, 19)} \\[[█░]+\\] \\d+% [\\d.]+ [KM]iB of 10\\.0 MiB .*${REPO}`))
    assert.match(text, /^sidecar http:\/\/127\.0\.0\.1:\d+$/m)
    assert.match(text, /blobs +\d+ seeding, \d+ fetching, \d+ failed; \d+ queued/)

    const got = await body

    assert.equal(got.length, layer.size)
    const after = JSON.parse((await cli(['status', '--agent', agent.url, '--json'])).stdout) as { agent: { pulls: PullJson[] } }
    assert.deepEqual(after.agent.pulls, [])
    console.log(`status saw ${pull.bytes} of ${layer.size} bytes at ${pull.rate} B/s; the pull took ${Date.now() - started} ms`)
  })

  it('with --watch --json prints one document per line until Ctrl-C', async () => {
    const child = spawn(process.execPath, [BIN, 'status', '--sidecar', sidecar.url, '--watch', '--json', '--interval', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      let out = ''
      child.stdout.on('data', (c: Buffer) => (out += c.toString()))
      await waitFor(async () => out.split('\n').length > 3, { timeoutMs: 15_000, intervalMs: 50, what: 'three snapshots' })
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      child.kill('SIGINT')
      assert.equal(await exited, 0)
      const docs = out.trim().split('\n').map((l) => JSON.parse(l) as { sidecar: { blobs: { counts: { seeding: number } } } })
      assert.ok(docs.length >= 3)
      for (const d of docs) assert.equal(typeof d.sidecar.blobs.counts.seeding, 'number')
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })

  it('prints one line and exits 1 when a process does not answer', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`
    const out = await cli(['status', '--agent', dead, '--json'])
    assert.equal(out.code, 1)
    assert.equal(out.stdout, '')
    assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr)
    assert.match(out.stderr, new RegExp(`^layerseed status: agent at ${dead} does not answer: `))
  })

  it('refuses bad arguments with exit 2', async () => {
    assert.equal((await cli(['status'])).code, 2)
    assert.equal((await cli(['status', '--agent', 'ftp://x'])).code, 2)
    assert.equal((await cli(['status', '--agent', agent.url, '--interval', '0'])).code, 2)
  })
})
