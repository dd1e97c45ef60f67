// The package as a machine without the repository gets it: `npm run package`
// (npm pack with the dependencies bundled), then
// `npm install -g` of the tarball into a temp prefix, offline with an empty
// cache (so everything it runs must be in the tarball), from a directory
// outside the repository. Then the installed CLI is run.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { makeOciImage } from '../demo/image.js'
import { waitFor } from '../demo/process.js'
import { startRegistry } from '../demo/registry.js'
import { skopeoPull, skopeoPush } from '../demo/skopeo.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const { version } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }
const exec = promisify(execFile)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerseed-install-'))
const prefix = path.join(tmp, 'prefix')
const bin = path.join(prefix, 'bin', 'layerseed')
const installed = path.join(prefix, 'lib', 'node_modules', 'layerseed')

after(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe('the packed tarball', () => {
  before(async () => {
    // --ignore-scripts: prepack would empty dist/, which this very test runs from; `tsc -p .` built it just before.
    const packed = await exec(process.execPath, [path.join(REPO, 'deploy', 'package.mjs'), '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO, maxBuffer: 64 << 20, timeout: 180_000 })
    const [{ filename }] = JSON.parse(packed.stdout) as Array<{ filename: string }>
    const work = path.join(tmp, 'elsewhere')
    fs.mkdirSync(work)
    await exec('npm', ['install', '-g', '--prefix', prefix, '--offline', '--cache', path.join(tmp, 'empty-cache'), '--no-audit', '--no-fund', path.join(tmp, filename)], { cwd: work, timeout: 180_000, maxBuffer: 16 << 20 })
  })

  it('installs a layerseed that prints its version and both commands\' help', async () => {
    assert.equal((await exec(bin, ['--version'], { cwd: tmp })).stdout, `${version}\n`)
    assert.match((await exec(bin, ['sidecar', '--help'], { cwd: tmp })).stdout, /--origin URL/)
    assert.match((await exec(bin, ['agent', '--help'], { cwd: tmp })).stdout, /--upstream URL/)
  })

  it('ships compiled JavaScript and the deploy files, not sources, tests or dev tools', () => {
    const files = fs.readdirSync(installed, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(installed, path.join(e.parentPath, e.name)))
    const own = files.filter((f) => !f.startsWith('node_modules/'))
    assert.deepEqual(own.filter((f) => f.endsWith('.ts') || f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('test/')), [])
    for (const f of ['dist/bin/cli.js', 'deploy/systemd/layerseed-agent.service', 'deploy/Containerfile']) assert.ok(own.includes(f), `ships ${f}`)
    // (@types/node does come along: http-proxy-middleware depends on @types/http-proxy.)
    for (const dev of ['typescript', 'eslint', 'typescript-eslint']) assert.ok(!fs.existsSync(path.join(installed, 'node_modules', dev)), `${dev} is not installed`)
    // The overrides of package.json hold only in the tree that was bundled.
    const versionOf = (name: string) => (JSON.parse(fs.readFileSync(path.join(installed, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
    assert.equal(versionOf('ip-set'), '2.2.0')
    assert.equal(versionOf('webrtc-polyfill'), '1.2.2-layerseed.0')
  })

  it('runs a sidecar that serves until it is stopped', async () => {
    const sidecar = await startInstalled(['sidecar', '--origin', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--peer-port', '0', '--data-dir', path.join(tmp, 'sidecar-data'), '--min-free-disk', '0'], 'sidecar listening')
    try {
      assert.equal((await fetch(`http://127.0.0.1:${sidecar.port}/healthz`)).status, 200)
      assert.equal(await sidecar.stop(), 0)
    } finally {
      sidecar.kill()
    }
  })

  it('pulls an image through an installed agent from an installed sidecar, with skopeo, byte for byte', async () => {
    const registry = await startRegistry({ dir: path.join(tmp, 'registry') })
    const running: Installed[] = []
    try {
      const image = await makeOciImage(path.join(tmp, 'image'), { layerSizes: [2_000_000, 500_000] })
      await skopeoPush(image, registry.host, 'library/app:1.0')
      const sidecar = await startInstalled(['sidecar', '--origin', registry.url, '--listen', '127.0.0.1:0', '--peer-port', '0', '--data-dir', path.join(tmp, 'pull-sidecar'), '--min-free-disk', '0'], 'sidecar listening')
      running.push(sidecar)
      const agent = await startInstalled(['agent', '--sidecar', `http://127.0.0.1:${sidecar.port}`, '--upstream', registry.url, '--listen', '127.0.0.1:0', '--peer-port', '0', '--data-dir', path.join(tmp, 'pull-agent'), '--min-free-disk', '0'], 'agent listening')
      running.push(agent)
      const pulled = await skopeoPull({ source: `${registry.host}/library/app:1.0`, destDir: path.join(tmp, 'pulled'), mirror: `127.0.0.1:${agent.port}`, workDir: path.join(tmp, 'skopeo') })
      for (const b of image.blobs()) assert.deepEqual(fs.readFileSync(pulled.blobPath(b.digest)), fs.readFileSync(b.path), `${b.digest} as pushed`)
      const stats = (await (await fetch(`http://127.0.0.1:${agent.port}/v1/stats`)).json()) as { bytesBySource: Record<string, number> }
      const served = Object.values(stats.bytesBySource).reduce((a, n) => a + n, 0)
      assert.equal(served, image.blobs().reduce((a, b) => a + b.size, 0), 'every blob went through the agent')
    } finally {
      for (const r of running.reverse()) await r.stop().catch(() => r.kill())
      await registry.stop()
    }
  })
})

interface Installed {
  readonly port: number
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>
  kill(): void
}

/** Runs the installed CLI until its log line `ready` names the port it listens on. */
async function startInstalled(args: string[], ready: string): Promise<Installed> {
  const child = spawn(bin, args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let port = 0
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`)
      const line = out.split('\n').find((l) => l.includes(ready))
      port = line ? (JSON.parse(line) as { port: number }).port : 0
      return port > 0
    }, { timeoutMs: 20_000, intervalMs: 50, what: `the installed ${args[0]} to listen` })
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  return {
    port,
    stop: () => {
      child.kill('SIGTERM')
      return exited
    },
    kill: () => child.kill('SIGKILL'),
  }
}
