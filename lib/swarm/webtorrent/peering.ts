import type { Torrent, Wire } from 'webtorrent'
import type { TorrentInternals, WireInternals } from './internals.js'

export interface Self {
  readonly peerId: string
  /** `host:port` other peers reach this process at. */
  readonly addr: () => string
  /** Addresses not to dial: banned peers the tracker may still hand out. */
  readonly refused?: (addr: string) => boolean
}

/**
 * How layerseed's nodes treat each other, applied to every torrent.
 *
 * - No connections to ourselves. The tracker hands a process its own address
 *   back, and webtorrent's check for its own peer id compares against a field
 *   it never sets, so every process dialled itself; a seeder that did offered
 *   pieces to itself and counted them as held.
 * - No tit-for-tat. Every node runs layerseed, shares all it has and wants the
 *   pull done, so every interested peer is unchoked as soon as it is
 *   interested and stays so. webtorrent unchokes a peer on its first interest
 *   only, then every 10 s keeps the peers it downloads fastest from and chokes
 *   the rest, including any peer it took for a seeder because its bitfield
 *   came late. Add torrents with `alwaysChokeSeeders: false` as well.
 * - No dialling a banned peer's address (`refused`).
 * - One connection per pair of peers. Two peers that each got the other from
 *   the tracker dial each other, and webtorrent keeps both connections, each
 *   with its own requests, `have`s, keep-alives and socket: twice the
 *   per-message work for the same bytes. When a second connection to a peer
 *   completes its handshake, both ends keep the one dialled by the smaller
 *   peer id and close the other, so they agree without a message.
 */
export function applyPeering(torrent: Torrent, self: Self): void {
  const t = torrent as unknown as TorrentInternals
  t.peerId = self.peerId
  const validAddr = t._validAddr.bind(t)
  t._validAddr = (addr) => addr !== self.addr() && self.refused?.(addr) !== true && validAddr(addr)
  t._rechoke = () => {
    for (const w of t.wires) if (w.peerInterested) w.unchoke()
  }
  t.on('wire', (wire: Wire) => {
    const twin = (t.wires as unknown as Wire[]).find((w) => w !== wire && w.peerId === wire.peerId && !w.destroyed)
    if (twin) {
      const dialler = (w: Wire) => (w.type === 'tcpOutgoing' ? self.peerId : w.peerId)
      const wanted = self.peerId < wire.peerId ? self.peerId : wire.peerId
      // The older one stays when both (or neither) were dialled by the wanted side.
      const keep = dialler(twin) !== wanted && dialler(wire) === wanted ? wire : twin
      ;(keep === wire ? twin : wire).destroy()
      if (keep !== wire) return
    }
    const w = wire as unknown as WireInternals
    w.on('interested', () => w.unchoke())
  })
}
