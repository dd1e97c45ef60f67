// Three sidecars sharing one Redis, every one a notifications endpoint of the
// registry, all of them real CLI processes; Debian's redis-server and
// docker-registry, skopeo, real webtorrent peers. The registry's blob reads
// are counted by a proxy in front of it, so "fetched from the origin once" is
// exact.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import bencode from 'bencode'
import { Redis } from 'ioredis'
import { waitFor } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPull, skopeoPush } from '../demo/skopeo.js'
import type { SourceBytes } from '../plugin/puller.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { blobState, groupFormed, kill9, members, ownersOf, proc, startCli, type Proc } from './helpers/group.js'

const MB = 1_000_000
const WEBHOOK_TOKEN = 'group-webhook-token'
const PREHEAT_TOKEN = 'group-preheat-token'

describe('a group of three sidecars sharing one Redis', () => {
  let root: string
  let redis: RedisServer
  let registry: Registry
  let proxy: CountingProxy
  let image: OciImage
  let sidecars: Proc[]
  const agents: Proc[] = []
  const urls = () => sidecars.map((s) => s.url)

  const startSidecar = (s: Proc, i: number) =>
    startCli(s, ['sidecar', '--origin', proxy.url, '--data-dir', path.join(root, `sidecar-${i}`), '--redis', redis.url, '--replicas', '2', '--webhook-token', WEBHOOK_TOKEN, '--preheat-token', PREHEAT_TOKEN, '--origin-rate', '16MB/s'])
  const startAgent = async (name: string, sidecarUrls: string[]): Promise<Proc> => {
    const a = await proc(root, name)
    agents.push(a)
    // Every blob through the swarm: nothing small enough to come inline.
    await startCli(a, ['agent', ...sidecarUrls.flatMap((u) => ['--sidecar', u]), '--upstream', proxy.url, '--data-dir', path.join(root, name), '--http-max-bytes', '0', '--http-alone-max-bytes', '0'])
    return a
  }
  const pull = async (agent: Proc, name: string, tag = '1.0') => {
    const pulled = await skopeoPull({ source: `${proxy.host}/library/group:${tag}`, destDir: path.join(root, `${name}-pulled`), mirror: `127.0.0.1:${agent.port}`, workDir: path.join(root, `${name}-skopeo`) })
    for (const l of image.layers) {
      const sha = createHash('sha256').update(await fs.readFile(pulled.blobPath(l.digest))).digest('hex')
      assert.equal(`sha256:${sha}`, l.digest, `${name}: layer byte-identical`)
    }
  }
  const bytesBySource = async (agent: Proc) => ((await (await fetch(`${agent.url}/v1/stats`)).json()) as { bytesBySource: SourceBytes }).bytesBySource
  const blobGets = () => Object.fromEntries(image.blobs().map((b) => [b.digest, proxy.blobGets(b.digest)]))
  const preheat = async (on: string, tag: string) => {
    const res = await fetch(`${on}/oapi/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PREHEAT_TOKEN}` },
      body: JSON.stringify({ type: 'preheat', args: { type: 'image', url: `${proxy.url}/v2/library/group/manifests/${tag}` } }),
    })
    assert.equal(res.status, 200, await res.clone().text())
    return ((await res.json()) as { id: number }).id
  }
  const job = async (on: string, id: number) => {
    const res = await fetch(`${on}/oapi/v1/jobs/${id}`, { headers: { authorization: `Bearer ${PREHEAT_TOKEN}` } })
    assert.equal(res.status, 200, await res.clone().text())
    return (await res.json()) as { state: string; takeovers?: number; result?: { job_states: Array<{ error: string; results: Array<{ success_tasks: unknown[] }> }> } }
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-group-'))
    redis = await startRedis(path.join(root, 'redis'))
    sidecars = await Promise.all([0, 1, 2].map((i) => proc(root, `sidecar-${i}`)))
    registry = await startRegistry({
      dir: path.join(root, 'registry'),
      notifyUrl: `${sidecars[0].url}/webhooks/distribution`,
      moreNotifyUrls: sidecars.slice(1).map((s) => `${s.url}/webhooks/distribution`),
      notifyToken: WEBHOOK_TOKEN,
    })
    proxy = await startCountingProxy(registry.url)
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [6 * MB, 4 * MB, 3 * MB] })
    await Promise.all(sidecars.map((s, i) => startSidecar(s, i)))
    await groupFormed(urls())
  })

  after(async () => {
    await Promise.all([...agents, ...(sidecars ?? [])].map((p) => p.proc?.stop()))
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await redis?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('after a push to a registry notifying every member, each blob seeds on its owners and the registry served it exactly once', async () => {
    await skopeoPush(image, proxy.host, 'library/group:1.0')
    for (const b of image.blobs()) {
      const owners = (await ownersOf(sidecars[0].url, b.digest.slice(7))).slice(0, 2)
      await waitFor(async () => (await Promise.all(owners.map((o) => blobState(o, b.digest)))).every((s) => s.state === 'seeding'), { timeoutMs: 60_000, intervalMs: 200, what: `${b.digest} seeding on its owners` })
      const others = urls().filter((u) => !owners.includes(u))
      for (const o of others) assert.equal((await blobState(o, b.digest)).state, 'absent', `${o} is no owner of ${b.digest} and holds nothing of it`)
    }
    // Late notifications (each endpoint has its own queue in the registry) must not fetch again.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    for (const [digest, gets] of Object.entries(blobGets())) assert.equal(gets, 1, `${digest} read from the registry once`)
  })

  it('agents pulling through different sidecars find each other, and every member answers an announce with the whole swarm', async () => {
    const a = await startAgent('agent-a', [sidecars[0].url])
    const b = await startAgent('agent-b', [sidecars[1].url])
    await pull(a, 'agent-a')
    await pull(b, 'agent-b')
    const fromB = await bytesBySource(b)
    assert.ok(fromB.peers > 0, `agent-b took bytes from agent-a: ${JSON.stringify(fromB)}`)

    // The largest layer's two owners each answer with the same peers: both seeders and both agents, though each agent announced to one tracker only.
    const big = image.layers[0]
    const owners = (await ownersOf(sidecars[0].url, big.digest.slice(7))).slice(0, 2)
    const infoHash = (await blobState(owners[0], big.digest)).infoHash!
    const peerId = randomBytes(20)
    const announce = async (base: string, event: string) => {
      const q = `info_hash=${escape(Buffer.from(infoHash, 'hex'))}&peer_id=${escape(peerId)}&port=1&left=1&compact=1&numwant=50&event=${event}`
      const body = bencode.decode(Buffer.from(await (await fetch(`${base}/announce?${q}`)).arrayBuffer())) as { peers?: Uint8Array; 'failure reason'?: Uint8Array }
      assert.equal(body['failure reason'], undefined, `${base}: ${Buffer.from(body['failure reason'] ?? []).toString()}`)
      const peers = Buffer.from(body.peers ?? [])
      const out: string[] = []
      for (let i = 0; i + 6 <= peers.length; i += 6) out.push(`${peers[i]}.${peers[i + 1]}.${peers[i + 2]}.${peers[i + 3]}:${peers.readUInt16BE(i + 4)}`)
      return out.sort()
    }
    const first = await announce(owners[0], 'started')
    const second = await announce(owners[1], 'update')
    assert.ok(first.length >= 4, `two seeders and two agents in the swarm: ${first.join(' ')}`)
    assert.deepEqual(second, first, 'both owners hand out the same swarm')
    await announce(owners[1], 'stopped')
  })

  it('with the owner of a layer killed, a new agent pulls the image byte-identical from the swarm and the surviving members, with no new origin fetch', async () => {
    const big = image.layers[0]
    const ownerUrl = (await ownersOf(sidecars[0].url, big.digest.slice(7)))[0]
    const owner = sidecars.find((s) => s.url === ownerUrl)!
    const before = proxy.totalBlobGets()
    await kill9(owner)
    // The dead owner is listed first: the agent must pass it over.
    const c = await startAgent('agent-c', [ownerUrl, ...urls().filter((u) => u !== ownerUrl)])
    await pull(c, 'agent-c')
    const fromC = await bytesBySource(c)
    assert.equal(fromC.origin, 0, `nothing from the registry: ${JSON.stringify(fromC)}`)
    assert.equal(proxy.totalBlobGets(), before, 'no new origin fetch')

    await startSidecar(owner, sidecars.indexOf(owner))
    await groupFormed(urls())
  })

  it('a preheat job created on one member is polled to SUCCESS on another; one whose member is killed is finished by another', async () => {
    const id = await preheat(sidecars[0].url, '1.0')
    await waitFor(async () => (await job(sidecars[1].url, id)).state === 'SUCCESS', { timeoutMs: 30_000, intervalMs: 200, what: `job ${id} SUCCESS on another member` })

    // A new image with a 40 MB layer at --origin-rate 16MB/s: its job runs for seconds, and its member dies in the middle.
    const slow = await makeOciImage(path.join(root, 'slow-image'), { layerSizes: [40 * MB] })
    await skopeoPush(slow, proxy.host, 'library/group:slow')
    const victim = sidecars[2]
    const killedId = await preheat(victim.url, 'slow')
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal((await job(sidecars[0].url, killedId)).state, 'PENDING', 'the job is running when its member dies')
    await kill9(victim)
    let last = await job(sidecars[0].url, killedId)
    await waitFor(async () => (last = await job(sidecars[0].url, killedId)).state !== 'PENDING', { timeoutMs: 30_000, intervalMs: 250, what: `job ${killedId} to end` })
    // A live member took it over and ran the rest: Harbor, polling, sees SUCCESS, not the death.
    assert.equal(last.state, 'SUCCESS', JSON.stringify(last.result))
    assert.equal(last.takeovers, 1)
    assert.equal(last.result!.job_states[0].results[0].success_tasks.length, slow.blobs().length, 'every blob of the image (config and layer)')
    for (const b of slow.layers) {
      const seeding = await Promise.all([sidecars[0], sidecars[1]].map(async (s) => (await blobState(s.url, b.digest)).state === 'seeding'))
      assert.ok(seeding.some(Boolean), `${b.digest} seeds on a live member`)
    }

    await startSidecar(victim, 2)
    await groupFormed(urls())
  })

  it('Redis killed during pulls: pulls complete; once it is back, the group forms again', async () => {
    const d = await startAgent('agent-d', urls())
    const pulling = pull(d, 'agent-d')
    await new Promise((resolve) => setTimeout(resolve, 200))
    await redis.kill()
    await pulling
    await redis.restart()
    // A fresh Redis knows nothing: every member must register again on its own.
    const client = new Redis(redis.url, { lazyConnect: true })
    try {
      await client.connect()
      await waitFor(async () => (await client.smembers('layerseed:members')).length === 3, { timeoutMs: 20_000, intervalMs: 200, what: 'three members registered in the new Redis' })
    } finally {
      client.disconnect()
    }
    await groupFormed(urls())
    for (const s of sidecars) {
      const log = await fs.readFile(s.log, 'utf8')
      const outages = log.split('\n').filter((l) => l.includes('Redis unreachable')).length
      assert.equal(outages, 1, `${s.log} says once that Redis was unreachable`)
    }
    assert.equal((await members(sidecars[0].url)).members.length, 3)
  })
})

/** Percent-encodes every byte, as a tracker query carries binary info-hashes and peer ids. */
function escape(b: Buffer): string {
  return [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')
}
