// Credentials of the processes themselves, against real registries: the
// agent's node credentials (containerd and podman send none to a mirror on
// another host), the sidecar's robot account by the token flow and by Basic
// (a docker-registry with htpasswd), and the token client's renewal.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { RegistryTokenClient } from '../lib/registry/token-client.js'
import { systemClock } from '../lib/core/clock.js'
import { RepoName } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import { silentLogger } from '../lib/core/logger.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { skopeoPull, skopeoPush } from '../demo/skopeo.js'
import type { SourceBytes } from '../plugin/puller.js'
import { PASSWORDS, REPO, SERVICE, startAuthFixture, type AuthFixture } from './helpers/auth-fixture.js'
import { capturingLogger } from './helpers/configs.js'
import { fakeClock } from './helpers/fake-clock.js'

const PREHEAT_TOKEN = 'preheat-secret-4d1f0e'
const BASIC_PASSWORD = 'origin-basic-pass'
// `basic:origin-basic-pass`, bcrypt cost 5, made with Python's crypt.crypt(…, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)).
const HTPASSWD = 'basic:$2b$05$Ryca0D0p841pV0IecLQk0OT/v4UNlYqmbcIARMjsR85qdA/Qb/F7W\n'

describe('own credentials of the sidecar and the agent', () => {
  let fx: AuthFixture
  let sidecar: RunningSidecar
  const closers: Array<() => Promise<unknown>> = []
  const logs: Array<() => string> = []

  const startSidecar = async (name: string, flags: string[]) => {
    const log = capturingLogger('trace', name)
    logs.push(log.text)
    const s = await runSidecar({ config: fx.sidecarConfig(name, flags), logger: log.logger, clock: systemClock })
    closers.push(() => s.close())
    return s
  }
  const startAgent = async (name: string, flags: string[]) => {
    const log = capturingLogger('trace', name)
    logs.push(log.text)
    const a = await runAgent({ config: fx.agentConfig(name, ['--sidecar', sidecar.url, '--upstream', fx.registry.url, '--http-max-bytes', '64KiB', ...flags]), logger: log.logger, clock: systemClock })
    closers.push(() => a.close())
    return a
  }
  const robotFlags = async () => ['--origin', fx.registry.url, '--origin-username', 'robot', '--origin-password-file', await fx.writeFile('robot-pw', PASSWORDS.robot), ...fx.authFlags]
  const stats = async (a: RunningAgent): Promise<SourceBytes> => ((await (await fetch(`${a.url}/v1/stats`)).json()) as { bytesBySource: SourceBytes }).bytesBySource
  const layer = () => fx.image.layers[0]

  before(async () => {
    fx = await startAuthFixture('creds', [2 << 20, 50_000])
    sidecar = await startSidecar('sidecar', await robotFlags())
  })
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined)
    await fx?.close()
  })

  it('serves a client that sends no credentials through an agent with node credentials, as a podman mirror', async () => {
    const a = await startAgent('agent-node', ['--upstream-username', 'node', '--upstream-password-file', await fx.writeFile('node-pw', `${PASSWORDS.node}\n`), ...fx.authFlags])
    const pulled = await skopeoPull({ source: `${fx.registry.host}/${REPO}:1.0`, destDir: path.join(fx.root, 'pull-node'), mirror: `127.0.0.1:${a.port}`, workDir: path.join(fx.root, 'work-node') })
    for (const b of fx.image.blobs()) {
      assert.equal(createHash('sha256').update(await fs.readFile(pulled.blobPath(b.digest))).digest('hex'), b.digest.slice(7), b.digest)
    }
    assert.ok(fx.tokens.issued('node') >= 1, 'the agent got its own token from the realm')
    const s = await stats(a)
    assert.equal(s.origin, 0, `the sidecar took the node's token and the swarm admitted the agent: ${JSON.stringify(s)}`)

    // Its own token grants pull on library/app only: a blob of library/secret is not served without a client token.
    const secret = await fetch(`${a.url}/v2/library/secret/blobs/${layer().digest}`)
    assert.equal(secret.status, 401)
    assert.equal(secret.headers.get('www-authenticate'), `Bearer realm="${fx.tokens.realm}",service="${SERVICE}",scope="repository:library/secret:pull"`)
  })

  it('takes node credentials per upstream from a docker config.json', async () => {
    const auth = Buffer.from(`node:${PASSWORDS.node}`).toString('base64')
    const file = await fx.writeFile('auth.json', JSON.stringify({ auths: { [fx.registry.host]: { auth } } }))
    const a = await startAgent('agent-authfile', ['--upstream-auth-file', file, ...fx.authFlags])
    const res = await fetch(`${a.url}/v2/${REPO}/blobs/${fx.image.layers[1].digest}`)
    assert.equal(res.status, 200)
    assert.equal(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), fx.image.layers[1].digest.slice(7))
    const manifest = await fetch(`${a.url}/v2/${REPO}/manifests/1.0`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    assert.equal(manifest.status, 200, 'manifests are proxied with the node\'s token')
  })

  it('without node credentials, the client sees the upstream\'s own challenge', async () => {
    const a = await startAgent('agent-plain', [])
    for (const p of ['/v2/', `/v2/${REPO}/manifests/1.0`, `/v2/${REPO}/blobs/${layer().digest}`]) {
      const direct = await fetch(`${fx.registry.url}${p}`)
      const through = await fetch(`${a.url}${p}`)
      assert.equal(direct.status, 401, p)
      assert.equal(through.status, 401, p)
      assert.equal(through.headers.get('www-authenticate'), direct.headers.get('www-authenticate'), p)
      assert.match(through.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${fx.tokens.realm}"`))
      await Promise.all([direct.arrayBuffer(), through.arrayBuffer()])
    }
  })

  it('pre-heats for Harbor with the robot account: the blob fetches carry the origin credentials', async () => {
    const s = await startSidecar('sidecar-preheat', ['--preheat-token', PREHEAT_TOKEN, ...(await robotFlags())])
    const harborToken = await fx.tokens.mint({ sub: 'harbor', access: [{ type: 'repository', name: REPO, actions: ['pull'] }] })
    const res = await fetch(`${s.url}/oapi/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PREHEAT_TOKEN}` },
      body: JSON.stringify({ type: 'preheat', args: { type: 'image', url: `${fx.registry.url}/v2/${REPO}/manifests/1.0`, headers: { Authorization: `Bearer ${harborToken}` } } }),
    })
    assert.equal(res.status, 200)
    const { id } = (await res.json()) as { id: number }
    let job: { state: string; result?: unknown } = { state: 'PENDING' }
    for (let i = 0; i < 200 && job.state === 'PENDING'; i++) {
      await new Promise((r) => setTimeout(r, 50))
      job = (await (await fetch(`${s.url}/oapi/v1/jobs/${id}`, { headers: { authorization: `Bearer ${PREHEAT_TOKEN}` } })).json()) as typeof job
    }
    assert.equal(job.state, 'SUCCESS', JSON.stringify(job))
  })

  it('reads an origin that challenges Basic with Basic credentials', async () => {
    const htpasswd = await fx.writeFile('htpasswd', HTPASSWD)
    let basicRegistry: Registry | undefined
    try {
      basicRegistry = await startRegistry({ dir: path.join(fx.root, 'basic-registry'), auth: { htpasswd: { realm: 'basic-realm', path: htpasswd } } })
      await skopeoPush(fx.image, basicRegistry.host, `${REPO}:1.0`, { creds: `basic:${BASIC_PASSWORD}`, workDir: path.join(fx.root, 'push-basic') })
      const s = await startSidecar('sidecar-basic', ['--origin', basicRegistry.url, '--origin-username', 'basic', '--origin-password', BASIC_PASSWORD, ...fx.authFlags])
      const res = await fetch(`${s.url}/v1/blobs/${layer().digest}/data?repo=${REPO}`, { headers: { authorization: `Bearer ${await fx.readerToken()}` } })
      assert.equal(res.status, 200)
      assert.equal(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), layer().digest.slice(7))
    } finally {
      await basicRegistry?.stop()
    }
  })

  it('renews its tokens before they expire, one token per scope, and follows a fresh challenge', async () => {
    const clock = fakeClock()
    const client = new RegistryTokenClient({ registry: fx.registry.url, credentials: { username: 'robot', password: PASSWORDS.robot }, clock, logger: silentLogger() })
    const repo = RepoName.parse(REPO)
    const before = fx.tokens.issued('robot')
    const first = await Promise.all(Array.from({ length: 20 }, () => client.authorization(repo)))
    assert.equal(new Set(first).size, 1)
    assert.equal(fx.tokens.issued('robot'), before + 1, 'concurrent requests for one scope share one token request')
    const ping = await fetch(`${fx.registry.url}/v2/${REPO}/manifests/1.0`, { method: 'HEAD', headers: { authorization: first[0]!, accept: 'application/vnd.oci.image.manifest.v1+json' } })
    assert.equal(ping.status, 200, 'the registry takes the token')
    clock.advance(260_000)
    assert.equal(await client.authorization(repo), first[0], 'still fresh at 260 s of 300 s')
    clock.advance(15_000)
    assert.notEqual(await client.authorization(repo), first[0], 'renewed in its last 30 s')
    assert.equal(fx.tokens.issued('robot'), before + 2)
    client.challenged(`Bearer realm="${fx.tokens.realm}",service="${SERVICE}",scope="repository:${REPO}:pull"`, repo)
    await client.authorization(repo)
    assert.equal(fx.tokens.issued('robot'), before + 3, 'a 401 drops the cached token')
    const root = await client.authorization()
    assert.equal((await fetch(`${fx.registry.url}/v2/`, { headers: { authorization: root! } })).status, 200, 'a token without scope for /v2/')

    const wrong = new RegistryTokenClient({ registry: fx.registry.url, credentials: { username: 'robot', password: 'wrong' }, clock, logger: silentLogger() })
    await assert.rejects(wrong.authorization(repo), (err: unknown) => err instanceof AppError && err.code === 'UPSTREAM_AUTH_FAILED' && !err.message.includes('wrong'))
  })

  it('sends its password only to an http(s) realm without credentials', async () => {
    // A registry that names a bad realm cannot be had from docker-registry: this stand-in only challenges.
    let realm = ''
    const fake = http.createServer((_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="x"` }).end())
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`
      for (const bad of [`http://user:pw@127.0.0.1:1/token`, 'ftp://127.0.0.1/token', 'not a url']) {
        realm = bad
        const client = new RegistryTokenClient({ registry: url, credentials: { username: 'robot', password: PASSWORDS.robot }, clock: systemClock, logger: silentLogger() })
        await assert.rejects(client.authorization(RepoName.parse(REPO)), (err: unknown) => err instanceof AppError && err.code === 'UPSTREAM_AUTH_FAILED', bad)
      }
    } finally {
      await new Promise((resolve) => fake.close(resolve))
    }
  })

  it('never logs the passwords', () => {
    const text = logs.map((l) => l()).join('')
    assert.ok(text.length > 1000)
    for (const secret of [PASSWORDS.node, PASSWORDS.robot, BASIC_PASSWORD, PREHEAT_TOKEN]) assert.ok(!text.includes(secret), `${secret} is in the logs`)
  })
})
