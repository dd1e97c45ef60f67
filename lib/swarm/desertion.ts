import type { Torrent, Wire } from 'webtorrent'
import { hasPiece, openWires, pieceCount } from './webtorrent/torrent-state.js'

/** How long a download waits for a peer to come back before it gives up on the swarm. */
export const DESERTED_GRACE_MS = 1_000

/**
 * Aborts `controller` when a download that had peers is left with none that
 * can still help: every connection closed (the sidecar died mid-pull, the
 * last liar was banned) and none came back within the grace. Waiting out the
 * stall timeout then would only delay the fallback to the registry. A peer
 * helps if it holds a piece we lack, or is a seeder (which super-seeds and so
 * shows only what it offers).
 */
export function watchDesertion(t: Torrent, controller: AbortController, isSeeder: (w: Wire) => boolean, usable: (w: Wire) => boolean, graceMs = DESERTED_GRACE_MS): void {
  let hadPeers = false
  let timer: NodeJS.Timeout | undefined
  const helps = (w: Wire) => {
    if (w.destroyed || !usable(w)) return false
    if (isSeeder(w)) return true
    const n = pieceCount(t)
    for (let i = 0; i < n; i++) if (!hasPiece(t, i) && w.peerPieces?.get(i) === true) return true
    return false
  }
  let closed = false
  const deserted = () => !closed && !t.done && !openWires(t).some(helps)
  const check = () => {
    if (!hadPeers || timer || !deserted()) return
    timer = setTimeout(() => {
      timer = undefined
      if (deserted()) controller.abort(new Error(`every peer of the swarm left (none came back within ${graceMs} ms)`))
    }, graceMs)
    timer.unref()
  }
  t.on('wire', (wire: Wire) => {
    hadPeers = true
    wire.once('close', check)
  })
  t.once('close', () => {
    closed = true
    clearTimeout(timer)
  })
}
