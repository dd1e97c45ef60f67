// The package as a machine without the repository gets it: `npm pack`, then
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
import { waitFor } from '../demo/process.js'

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
    const packed = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO, maxBuffer: 64 << 20, timeout: 180_000 })
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
    const dataDir = path.join(tmp, 'sidecar-data')
    const child = spawn(bin, ['sidecar', '--origin', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--peer-port', '0', '--data-dir', dataDir, '--min-free-disk', '0'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      let out = ''
      child.stdout.on('data', (c: Buffer) => (out += c.toString()))
      let port = 0
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`)
        const line = out.split('\n').find((l) => l.includes('sidecar listening'))
        port = line ? (JSON.parse(line) as { port: number }).port : 0
        return port > 0
      }, { timeoutMs: 20_000, intervalMs: 50, what: 'the installed sidecar to listen' })
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200)
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
