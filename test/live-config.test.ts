// Live configuration: a running agent and sidecar watch their --config file
// (chokidar on a real file) and take the live options from every valid edit;
// with token auth they follow the key files too.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { agentLiveFields, liveFieldsOf, loadAgentConfig, loadSidecarConfig, sidecarLiveFields } from '../config/index.js'
import { systemClock } from '../lib/core/clock.js'
import { watchedConfig } from '../config/live-config.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { freePort } from '../demo/ports.js'
import { waitFor } from '../demo/process.js'
import { SignJWT } from 'jose'
import { InvalidTokenError } from '../lib/auth/verifier.js'
import { RepoName } from '../lib/core/domain.js'
import { capturingLogger } from './helpers/configs.js'
import { makeTokenKeys, type SigningKey } from './helpers/token-keys.js'
import { cacheStatus } from './helpers/blobs.js'

describe('live configuration', () => {
  let root: string
  const closers: Array<() => Promise<unknown>> = []

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-live-'))
  })
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('changes the upload limit of a running agent, and rejects a broken edit while the old values stay', async () => {
    const file = path.join(root, 'agent.yaml')
    const base = [
      'listen: 127.0.0.1:0',
      `sidecar: http://127.0.0.1:${await freePort()}`,
      `upstream: http://127.0.0.1:${await freePort()}`,
      `data-dir: ${path.join(root, 'agent')}`,
      'peer-port: 0',
      'min-free-disk: 0',
      'log-level: silent',
    ]
    const write = (...extra: string[]) => fs.writeFile(file, [...base, ...extra].join('\n') + '\n')
    await write('upload-rate: 1MB/s')
    const argv = ['--config', file]
    const log = capturingLogger()
    const loaded = loadAgentConfig(argv)
    const live = await watchedConfig(loaded, () => loadAgentConfig(argv).config, agentLiveFields, log.logger)
    const agent: RunningAgent = await runAgent({ config: loaded.config!, live, logger: log.logger, clock: systemClock })
    closers.push(() => agent.close())
    const rates = async () => ((await (await fetch(`${agent.url}/v1/stats`)).json()) as { rateLimits: { uploadBytesPerSec: number | null; downloadBytesPerSec: number | null } }).rateLimits
    assert.deepEqual(await rates(), { uploadBytesPerSec: 1_000_000, downloadBytesPerSec: null })

    await write('upload-rate: 3MB/s', 'cache-max-bytes: 10GB')
    await waitFor(async () => (await rates()).uploadBytesPerSec === 3_000_000, { timeoutMs: 10_000, intervalMs: 50, what: 'the new upload limit' })
    assert.equal((await cacheStatus(agent.url)).maxBytes, 10e9, 'cache bounds change live too')
    assert.ok(log.has(/configuration changed live/))

    await write('upload-rate: fast', 'cache-max-bytes: lots')
    await waitFor(async () => log.has(/config file rejected \((?=[^)]*upload-rate)(?=[^)]*cache-max-bytes)/), { timeoutMs: 10_000, intervalMs: 50, what: 'the rejection to be logged' })
    assert.deepEqual(await rates(), { uploadBytesPerSec: 3_000_000, downloadBytesPerSec: null }, 'the old values stay')
    assert.equal((await cacheStatus(agent.url)).maxBytes, 10e9)
    assert.equal(agent.live.current.uploadBytesPerSec, 3_000_000)

    // A change that needs a restart is reported and not applied; the live part of the same edit is.
    base[3] = `data-dir: ${path.join(root, 'elsewhere')}`
    await write('upload-rate: 4MB/s')
    await waitFor(async () => (await rates()).uploadBytesPerSec === 4_000_000, { timeoutMs: 10_000, intervalMs: 50, what: 'the upload limit after a mixed edit' })
    assert.ok(log.has(/take effect only after a restart: data-dir/), 'the log names the option that needs a restart')
    assert.equal(agent.live.current.dataDir, path.join(root, 'agent'))
    assert.equal((await cacheStatus(agent.url)).maxBytes, null, 'the bound left the file, so it is gone')

    await write()
    await waitFor(async () => (await rates()).uploadBytesPerSec === null, { timeoutMs: 10_000, intervalMs: 50, what: 'the limit to be lifted' })
    assert.ok(Object.isFrozen(agent.live.current))
  })

  it('changes the sidecar\'s webhook token without a restart', async () => {
    const file = path.join(root, 'sidecar.yaml')
    const write = (token: string) => fs.writeFile(file, [
      'listen: 127.0.0.1:0',
      `origin: http://127.0.0.1:${1}`,
      `data-dir: ${path.join(root, 'sidecar')}`,
      'peer-port: 0',
      'min-free-disk: 0',
      `webhook-token: ${token}`,
    ].join('\n') + '\n')
    await write('first-token')
    const argv = ['--config', file]
    const log = capturingLogger()
    const loaded = loadSidecarConfig(argv)
    const live = await watchedConfig(loaded, () => loadSidecarConfig(argv).config, sidecarLiveFields, log.logger)
    const sidecar: RunningSidecar = await runSidecar({ config: loaded.config!, live, logger: log.logger, clock: systemClock })
    closers.push(() => sidecar.close())
    const post = (token: string) => fetch(`${sidecar.url}/webhooks/distribution`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [] }),
    }).then((r) => r.status)
    assert.equal(await post('first-token'), 202)
    await write('second-token')
    await waitFor(async () => (await post('second-token')) === 202, { timeoutMs: 10_000, intervalMs: 50, what: 'the new token' })
    assert.equal(await post('first-token'), 401)
  })

  it('follows the token signing keys: a rotated bundle file and a config naming another file, while a broken file changes nothing', async () => {
    const keys = await makeTokenKeys(path.join(root, 'keys'))
    const repo = RepoName.parse('library/app')
    const mint = (k: SigningKey) => new SignJWT({ access: [{ type: 'repository', name: 'library/app', actions: ['pull'] }] })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: k.kid })
      .setIssuer('issuer')
      .setAudience('registry')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(k.key)
    const bundle = path.join(root, 'bundle.pem')
    const other = path.join(root, 'other.pem')
    await fs.writeFile(bundle, keys.rsa.cert.toString())
    await fs.writeFile(other, keys.rsa.cert.toString())
    const file = path.join(root, 'agent-auth.yaml')
    const write = (certs: string) => fs.writeFile(file, [
      'listen: 127.0.0.1:0',
      `sidecar: http://127.0.0.1:${1}`,
      `upstream: http://127.0.0.1:${1}`,
      `data-dir: ${path.join(root, 'agent-auth')}`,
      'peer-port: 0',
      'min-free-disk: 0',
      'auth-realm: http://127.0.0.1:1/token',
      'auth-issuer: issuer',
      'auth-service: registry',
      `auth-root-certs: ${certs}`,
    ].join('\n') + '\n')
    await write(bundle)
    const argv = ['--config', file]
    const log = capturingLogger()
    const loaded = loadAgentConfig(argv)
    const live = await watchedConfig(loaded, () => loadAgentConfig(argv).config, liveFieldsOf(agentLiveFields, loaded.config!), log.logger)
    const agent = await runAgent({ config: loaded.config!, live, logger: log.logger, clock: systemClock })
    closers.push(() => agent.close())
    const accepts = (token: string) => agent.verifier!.verify(token, repo).then(() => true, (err: unknown) => {
      if (err instanceof InvalidTokenError) return false
      throw err
    })
    const oldToken = await mint(keys.rsa)
    const newToken = await mint(keys.unknown)
    assert.equal(await accepts(oldToken), true)
    assert.equal(await accepts(newToken), false, 'a key no certificate names is refused')

    // The certificate is rotated in place, as a mounted secret is.
    await fs.writeFile(bundle, keys.rsa.cert.toString() + keys.unknown.cert.toString())
    await waitFor(() => accepts(newToken), { timeoutMs: 15_000, intervalMs: 200, what: 'the rotated bundle to be read' })

    await fs.writeFile(bundle, 'not a certificate\n')
    await waitFor(async () => log.has(/token signing keys not reloaded \(auth-root-certs\)/), { timeoutMs: 15_000, intervalMs: 100, what: 'the broken bundle to be refused' })
    assert.equal(await accepts(newToken), true, 'the running keys stay')

    // The config names another file, which lacks the new key.
    await write(other)
    await waitFor(async () => !(await accepts(newToken)), { timeoutMs: 15_000, intervalMs: 200, what: 'the keys of the other file' })
    assert.equal(await accepts(oldToken), true)
    assert.equal(agent.live.current.authRootCerts, other)
  })
})
