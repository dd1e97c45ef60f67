/**
 * Where a process runs: its zone and, inside the zone, its rack. Both are
 * optional; a rack means something only inside its zone. Names are short
 * ([A-Za-z0-9._-], 1 to 63 characters) so they fit an announce, a label value
 * and a handshake field as they are.
 */
export interface Place {
  readonly zone?: string
  readonly rack?: string
}

const NAME = /^[A-Za-z0-9._-]{1,63}$/

/** Whether `s` is a valid zone or rack name. */
export const isPlaceName = (s: unknown): s is string => typeof s === 'string' && NAME.test(s)

/** Parses a zone or rack name; throws naming the rule. */
export function parsePlaceName(raw: unknown): string {
  const s = typeof raw === 'string' ? raw.trim() : raw
  if (!isPlaceName(s)) throw new Error(`want 1 to 63 characters of A-Za-z0-9._-, got ${JSON.stringify(raw)}`)
  return s
}
