import { AppError } from '../core/errors.js'

/** What an agent accepts as bytes instead of a torrent: the `inline-max` and `inline-alone-max` query parameters of a torrent request. */
export interface InlineLimits {
  /** Always, up to this size. */
  readonly max: number
  /** Up to this size while no other node fetches or shares the blob. */
  readonly aloneMax: number
}

/** Headers of a torrent request answered with the blob's bytes: the torrent (base64) and its info-hash ride along. */
export const InlineHeaders = { torrent: 'x-layerseed-torrent', infoHash: 'x-layerseed-info-hash' } as const

export function inlineQuery(limits: InlineLimits): string {
  return `inline-max=${limits.max}&inline-alone-max=${limits.aloneMax}`
}

function limit(raw: unknown, name: string): number {
  if (raw === undefined) return 0
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) throw new AppError('QUERY_INVALID', `${name} must be a number of bytes, got ${JSON.stringify(raw)}`)
  return Number(raw)
}

/** The limits an agent sent; absent ones are 0, so the torrent comes as usual. */
export function parseInlineLimits(query: Readonly<Record<string, unknown>>): InlineLimits {
  return { max: limit(query['inline-max'], 'inline-max'), aloneMax: limit(query['inline-alone-max'], 'inline-alone-max') }
}
