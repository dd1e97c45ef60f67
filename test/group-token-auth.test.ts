// A group of two sidecars with registry token auth on: Debian's docker-registry
// with `auth: token` and a token server signing like Harbor, Debian's
// redis-server, the sidecars as real CLI processes reading the origin with a
// robot account. A torrent request with a reader's token that reaches the
// member not owning a blob makes it read the bytes from the owner, which
// admits it by the group's member header, not by a registry token; the
// registry serves the blob once (a counting proxy in front of it tells).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import path from 'node:path'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { waitFor } from '../demo/process.js'
import { parseTorrent } from '../lib/swarm/torrent.js'
import { MEMBER_HEADER } from '../sidecar/member-client.js'
import { PASSWORDS, REPO, startAuthFixture, type AuthFixture } from './helpers/auth-fixture.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { groupFormed, ownersOf, proc, startCli, type Proc } from './helpers/group.js'

const WEBHOOK_TOKEN = 'group-auth-webhook-token'
const MB = 1_000_000

describe('a group of sidecars with token auth', () => {
  let fx: AuthFixture
  let redis: RedisServer
  let proxy: CountingProxy
  let sidecars: Proc[] = []

  before(async () => {
    fx = await startAuthFixture('group-auth', [3 * MB, 2 * MB])
    redis = await startRedis(path.join(fx.root, 'redis'))
    proxy = await startCountingProxy(fx.registry.url)
    sidecars = await Promise.all([0, 1].map((i) => proc(fx.root, `sidecar-${i}`)))
    await Promise.all(sidecars.map((s, i) => startCli(s, [
      'sidecar', '--origin', proxy.url, '--data-dir', path.join(fx.root, `sidecar-${i}`), '--redis', redis.url,
      '--webhook-token', WEBHOOK_TOKEN, '--origin-username', 'robot', '--origin-password', PASSWORDS.robot, ...fx.authFlags,
    ])))
    await groupFormed(sidecars.map((s) => s.url))
  })

  after(async () => {
    await Promise.all(sidecars.map((s) => s.proc?.stop()))
    await proxy?.close().catch(() => undefined)
    await redis?.stop().catch(() => undefined)
    await fx?.close()
  })

  const layer = () => fx.image.layers[0]
  const byUrl = (url: string) => sidecars.find((s) => s.url === url)!

  it("answers a reader's torrent request on the member that does not own the blob with the owner's bytes, read from the registry once", async () => {
    const [ownerUrl, otherUrl] = await ownersOf(sidecars[0].url, layer().digest.slice(7))
    const token = await fx.readerToken()
    const res = await fetch(`${byUrl(otherUrl).url}/v1/blobs/${layer().digest}/torrent?repo=${REPO}`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 200, await res.clone().text())
    const t = parseTorrent(Buffer.from(await res.arrayBuffer()))
    assert.equal(t.size, layer().size)
    assert.equal(proxy.blobGets(layer().digest), 1, 'only the owner read the registry')
    const state = async (url: string) => {
      const r = await fetch(`${url}/v1/blobs/${layer().digest}?repo=${REPO}`, { headers: { authorization: `Bearer ${token}` } })
      return ((await r.json()) as { state?: string }).state
    }
    for (const url of [ownerUrl, otherUrl]) {
      await waitFor(async () => (await state(url)) === 'seeding', { timeoutMs: 20_000, intervalMs: 100, what: `${layer().digest} seeding on ${url}` })
    }
    // The bytes the other member took from the owner are the pushed ones: its data route serves them to a reader.
    const data = await fetch(`${otherUrl}/v1/blobs/${layer().digest}/data?repo=${REPO}`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(data.status, 200)
    assert.equal(`sha256:${createHash('sha256').update(Buffer.from(await data.arrayBuffer())).digest('hex')}`, layer().digest)
    assert.equal(proxy.blobGets(layer().digest), 1, 'still once')
  })

  it('refuses a blob read with a wrong member header or none, naming the problem', async () => {
    const [ownerUrl] = await ownersOf(sidecars[0].url, layer().digest.slice(7))
    const url = `${ownerUrl}/v1/blobs/${layer().digest}/data?repo=${REPO}`
    for (const headers of [{ [MEMBER_HEADER]: 'not-the-group-token' }, {} as Record<string, string>]) {
      const res = await fetch(url, { headers })
      assert.equal(res.status, 401, JSON.stringify(headers))
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/)
      const body = (await res.json()) as { errors: Array<{ code: string }> }
      assert.equal(body.errors[0].code, 'UNAUTHORIZED')
    }
    const ok = await fetch(url, { headers: { [MEMBER_HEADER]: WEBHOOK_TOKEN } })
    assert.equal(ok.status, 200, 'the group token admits a member')
    await ok.arrayBuffer()
  })
})
