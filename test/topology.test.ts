// The tracker's ordering of the peers it hands out, and the rule that a zone
// is never left without peers of other zones.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import bencode from 'bencode'
import { InfoHash } from '../lib/core/domain.js'
import { Tracker } from '../lib/swarm/tracker.js'
import { crossZoneReserve, distance, orderPeers, parsePlaceName, type Place } from '../lib/swarm/topology.js'
import { loadAgentConfig, loadSidecarConfig } from '../config/index.js'
import { problemsOf } from './helpers/configs.js'

interface P extends Place {
  readonly id: string
}

const peer = (id: string, zone?: string, rack?: string): P => ({ id, zone, rack })
const ids = (ps: readonly P[]) => ps.map((p) => p.id)

describe('topology', () => {
  it('tells same rack, same zone and other zones apart; a rack counts only inside its zone', () => {
    assert.equal(distance({ zone: 'a', rack: 'r1' }, { zone: 'a', rack: 'r1' }), 0)
    assert.equal(distance({ zone: 'a', rack: 'r1' }, { zone: 'a', rack: 'r2' }), 1)
    assert.equal(distance({ zone: 'a' }, { zone: 'a', rack: 'r1' }), 1)
    assert.equal(distance({ zone: 'a', rack: 'r1' }, { zone: 'b', rack: 'r1' }), 2)
    assert.equal(distance({ zone: 'a' }, {}), 2)
    assert.equal(distance({}, { zone: 'a' }), 2)
  })

  it('orders same rack, then same zone, then other zones, keeping the order within each', () => {
    const peers = [peer('b1', 'b'), peer('a2', 'a', 'r2'), peer('x'), peer('a1', 'a', 'r1'), peer('b2', 'b'), peer('a3', 'a', 'r1'), peer('a4', 'a')]
    assert.deepEqual(ids(orderPeers({ zone: 'a', rack: 'r1' }, peers, 50)), ['a1', 'a3', 'a2', 'a4', 'b1', 'x', 'b2'])
  })

  it('without a zone of its own, a peer gets the tracker\'s order as it is', () => {
    const peers = [peer('b1', 'b'), peer('a1', 'a'), peer('x'), peer('b2', 'b')]
    assert.deepEqual(ids(orderPeers({}, peers, 50)), ['b1', 'a1', 'x', 'b2'])
    assert.deepEqual(ids(orderPeers({ rack: 'r1' }, peers, 3)), ['b1', 'a1', 'x'])
  })

  it('never leaves a zone without peers of other zones: a fifth of the answer, at least one', () => {
    assert.equal(crossZoneReserve(0), 0)
    assert.equal(crossZoneReserve(1), 1)
    assert.equal(crossZoneReserve(5), 1)
    assert.equal(crossZoneReserve(6), 2)
    assert.equal(crossZoneReserve(50), 10)
    const own = Array.from({ length: 60 }, (_, i) => peer(`a${i}`, 'a'))
    const others = Array.from({ length: 30 }, (_, i) => peer(`b${i}`, 'b'))
    const got = orderPeers({ zone: 'a' }, [...others, ...own], 50)
    assert.equal(got.length, 50)
    assert.equal(got.filter((p) => p.zone === 'a').length, 40)
    assert.equal(got.filter((p) => p.zone === 'b').length, 10)
    assert.deepEqual(ids(got.slice(0, 40)), ids(own.slice(0, 40)), 'own zone first')
    // One wanted: the one slot goes to another zone, or the zone could never learn of one.
    assert.deepEqual(ids(orderPeers({ zone: 'a' }, [peer('a1', 'a'), peer('b1', 'b')], 1)), ['b1'])
  })

  it('fills the answer from other zones when the own zone has too few, and the other way round', () => {
    const got = orderPeers({ zone: 'a' }, [peer('b1', 'b'), peer('a1', 'a'), peer('b2', 'b'), peer('c1', 'c')], 3)
    assert.deepEqual(ids(got), ['a1', 'b1', 'b2'])
    const few = orderPeers({ zone: 'a' }, [peer('b1', 'b'), ...Array.from({ length: 9 }, (_, i) => peer(`a${i}`, 'a'))], 10)
    assert.deepEqual(ids(few), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'b1'])
    assert.deepEqual(orderPeers({ zone: 'a' }, [peer('a1', 'a')], 0), [])
  })

  it('takes short names of letters, digits, dot, dash and underscore only', () => {
    assert.equal(parsePlaceName(' eu-west-1a '), 'eu-west-1a')
    assert.equal(parsePlaceName('rack_07.b'), 'rack_07.b')
    for (const bad of ['', 'a b', 'zone/1', 'z'.repeat(64), 'zöne', 7]) assert.throws(() => parsePlaceName(bad), /A-Za-z0-9/)
  })

  it('--zone and --rack are options of both processes; a bad name stops the start naming the key', () => {
    const agent = loadAgentConfig(['--sidecar', 'http://127.0.0.1:1', '--upstream', 'http://127.0.0.1:1', '--zone', 'b', '--rack', 'r2']).config
    assert.equal(agent?.zone, 'b')
    assert.equal(agent?.rack, 'r2')
    const sidecar = loadSidecarConfig(['--origin', 'http://127.0.0.1:1', '--zone', 'a']).config
    assert.equal(sidecar?.zone, 'a')
    assert.equal(sidecar?.rack, undefined)
    const problems = problemsOf(() => loadAgentConfig(['--sidecar', 'http://127.0.0.1:1', '--upstream', 'http://127.0.0.1:1', '--zone', 'eu west']))
    assert.deepEqual(problems.map((p) => p.key), ['--zone'])
  })
})

/** One announce over HTTP to a real `Tracker`; the answer's failure reason or its peers as `ip:port`, in order. */
async function announce(url: string, infoHash: Buffer, n: number, q: Record<string, string> = {}): Promise<{ failure?: string; peers: string[] }> {
  const peerId = Buffer.concat([Buffer.from('-LS010A-'), Buffer.alloc(12, n)])
  const esc = (b: Buffer) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')
  const params = new URLSearchParams({ port: String(7000 + n), uploaded: '0', downloaded: '0', left: '1', compact: '1', event: 'started', numwant: '50', ip: `127.0.0.${n}`, ...q })
  const res = await fetch(`${url}/announce?info_hash=${esc(infoHash)}&peer_id=${esc(peerId)}&${params}`)
  const body = bencode.decode(Buffer.from(await res.arrayBuffer())) as Record<string, Uint8Array>
  if (body['failure reason']) return { failure: Buffer.from(body['failure reason']).toString(), peers: [] }
  const compact = Buffer.from(body.peers)
  const peers: string[] = []
  for (let i = 0; i + 6 <= compact.length; i += 6) peers.push(`${compact.subarray(i, i + 4).join('.')}:${compact.readUInt16BE(i + 4)}`)
  return { peers }
}

describe('the tracker with zones', () => {
  let server: http.Server
  let tracker: Tracker
  let url: string
  const hash = InfoHash.parse('ab'.repeat(20))

  before(async () => {
    tracker = new Tracker()
    tracker.issue(hash)
    server = http.createServer((req, res) => tracker.handle(req, res, 'announce'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    tracker.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it('refuses an announce with a bad zone or rack, naming the parameter', async () => {
    const raw = Buffer.from(hash.hex, 'hex')
    assert.match((await announce(url, raw, 90, { zone: 'a b' })).failure ?? '', /^zone= must be/)
    assert.match((await announce(url, raw, 90, { zone: 'a', rack: 'x'.repeat(64) })).failure ?? '', /^rack= must be/)
  })

  it('answers each peer with its own rack, then its zone, then the others, and without a zone in its own order', async () => {
    const raw = Buffer.from(hash.hex, 'hex')
    const places: Array<Record<string, string>> = [{ zone: 'b' }, { zone: 'a', rack: 'r2' }, {}, { zone: 'a', rack: 'r1' }, { zone: 'b' }, { zone: 'a', rack: 'r1' }]
    for (const [i, q] of places.entries()) assert.equal((await announce(url, raw, i + 1, q)).failure, undefined)
    const addr = (n: number) => `127.0.0.${n}:${7000 + n}`
    const got = await announce(url, raw, 4, { zone: 'a', rack: 'r1' })
    // Peer 4 itself is never in its answer; the peer store's order within a group is random.
    const groups = got.peers.map((p) => (p === addr(6) ? 0 : p === addr(2) ? 1 : 2))
    assert.deepEqual(groups, [...groups].sort(), `ordered by distance: ${got.peers.join(' ')}`)
    assert.deepEqual(new Set(got.peers), new Set(places.map((_, i) => addr(i + 1)).filter((a) => a !== addr(4))))
    const none = await announce(url, raw, 3)
    assert.equal(none.peers.length, places.length - 1)
  })
})
