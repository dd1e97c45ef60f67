import type { Place } from '../core/place.js'

export { isPlaceName, parsePlaceName, type Place } from '../core/place.js'

/** How far a peer is: 0 same rack, 1 same zone, 2 another zone or unknown. */
export type Distance = 0 | 1 | 2

export const SAME_RACK: Distance = 0
export const SAME_ZONE: Distance = 1
export const OTHER_ZONE: Distance = 2

export function distance(self: Place, other: Place): Distance {
  if (self.zone === undefined || other.zone !== self.zone) return OTHER_ZONE
  return self.rack !== undefined && other.rack === self.rack ? SAME_RACK : SAME_ZONE
}

/** Peers of other zones a list of `want` always holds when there are any: a fifth, at least one. */
export function crossZoneReserve(want: number): number {
  return want <= 0 ? 0 : Math.max(1, Math.ceil(want / 5))
}

/**
 * The peers a tracker hands to `self`, at most `want`, from `peers` (in the
 * tracker's own order, random for bittorrent-tracker): same rack first, then
 * same zone, then other zones; but a few of other zones (`crossZoneReserve`)
 * always go in while there are any, so a zone whose own peers are all slow or
 * empty still finds the pieces elsewhere. Without a zone of its own, `self`
 * gets the peers in the tracker's order, as without topology. Stable: peers
 * at the same distance keep their order.
 */
export function orderPeers<P extends Place>(self: Place, peers: readonly P[], want: number): P[] {
  if (want <= 0) return []
  if (self.zone === undefined) return peers.slice(0, want)
  const byDistance: P[][] = [[], [], []]
  for (const p of peers) byDistance[distance(self, p)].push(p)
  const near = [...byDistance[SAME_RACK], ...byDistance[SAME_ZONE]]
  const far = byDistance[OTHER_ZONE]
  const reserve = Math.min(far.length, crossZoneReserve(want))
  const nearTaken = Math.min(near.length, want - reserve)
  const farTaken = Math.min(far.length, want - nearTaken)
  return [...near.slice(0, nearTaken), ...far.slice(0, farTaken)]
}
