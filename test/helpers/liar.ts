// A peer that holds a valid place in a swarm and lies: it claims every piece
// and answers every request with random bytes. A raw bittorrent-protocol Wire
// on a TCP server, so nothing of layerseed's own code helps it.
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import bencode from 'bencode'
import Wire from 'bittorrent-protocol'

interface RawWire extends Duplex {
  handshake(infoHash: string, peerId: string, extensions?: object): void
  bitfield(bitfield: Uint8Array): void
  unchoke(): void
}

export interface Liar {
  readonly port: number
  readonly peerIdHex: string
  /** Requests answered, and garbage bytes sent. */
  readonly sent: { requests: number; bytes: number }
  /** Announces to the tracker as complete; the tracker's failure reason, if any. */
  announce(): Promise<string | undefined>
  /** Dials a peer (`host:port`) and lies to it too. */
  connect(addr: string): void
  close(): Promise<void>
}

const pct = (b: Buffer) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')

export async function startLiar(o: { infoHash: string; pieces: number; announceUrl: string }): Promise<Liar> {
  const peerId = Buffer.concat([Buffer.from('-XX0001-'), randomBytes(12)])
  const peerIdHex = peerId.toString('hex')
  const sent = { requests: 0, bytes: 0 }
  const sockets = new Set<net.Socket>()
  const all = Buffer.alloc(Math.ceil(o.pieces / 8), 0xff)
  if (o.pieces % 8) all[all.length - 1] = (0xff << (8 - (o.pieces % 8))) & 0xff

  const lie = (socket: net.Socket, dialled: boolean) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    const wire = new Wire() as unknown as RawWire
    wire.on('error', () => undefined)
    socket.pipe(wire).pipe(socket)
    const claim = () => {
      wire.bitfield(all)
      wire.unchoke()
    }
    if (dialled) wire.handshake(o.infoHash, peerIdHex)
    wire.on('handshake', () => {
      if (!dialled) wire.handshake(o.infoHash, peerIdHex)
      claim()
    })
    wire.on('request', (_i: number, _off: number, length: number, respond: (err: Error | null, data?: Buffer) => void) => {
      sent.requests++
      sent.bytes += length
      respond(null, randomBytes(length))
    })
  }

  const server = net.createServer((s) => lie(s, false))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    peerIdHex,
    sent,
    async announce() {
      const q = `info_hash=${pct(Buffer.from(o.infoHash, 'hex'))}&peer_id=${pct(peerId)}&port=${port}&uploaded=0&downloaded=0&left=0&compact=1&event=started&ip=127.0.0.1`
      const body = Buffer.from(await (await fetch(`${o.announceUrl}${o.announceUrl.includes('?') ? '&' : '?'}${q}`)).arrayBuffer())
      const failure = (bencode.decode(body) as Record<string, unknown>)['failure reason']
      return failure instanceof Uint8Array ? Buffer.from(failure).toString('utf8') : undefined
    },
    connect(addr) {
      const [host, p] = addr.split(':')
      lie(net.connect(Number(p), host), true)
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The ports of the peers a tracker hands out for `infoHash`, asked as a fresh peer that then leaves. */
export async function listedPorts(announceUrl: string, infoHash: string): Promise<number[]> {
  const id = Buffer.concat([Buffer.from('-XX0002-'), randomBytes(12)])
  const base = `${announceUrl}${announceUrl.includes('?') ? '&' : '?'}info_hash=${pct(Buffer.from(infoHash, 'hex'))}&peer_id=${pct(id)}&port=9&uploaded=0&downloaded=0&left=1&compact=1&numwant=200&ip=127.0.0.1`
  const body = Buffer.from(await (await fetch(`${base}&event=started`)).arrayBuffer())
  await fetch(`${base}&event=stopped`)
  const peers = (bencode.decode(body) as { peers?: Uint8Array }).peers
  const ports: number[] = []
  if (peers instanceof Uint8Array) for (let i = 0; i + 6 <= peers.length; i += 6) ports.push((peers[i + 4] << 8) | peers[i + 5])
  return ports.filter((p) => p !== 9)
}
