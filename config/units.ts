const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `500ms`, `10s`, `2m`, `1h`; a bare number is milliseconds. */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v)
  const m = typeof v === 'string' ? DURATION_RE.exec(v.trim()) : null
  if (!m) throw new Error(`want a duration like 500ms, 10s or 2m, got ${JSON.stringify(v)}`)
  return Math.round(Number(m[1]) * DURATION_MS[m[2] ?? 'ms'])
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/i
const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
}

/** `500MB`, `50GiB`; a bare number is bytes. */
export function parseBytes(v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v
  const m = typeof v === 'string' ? SIZE_RE.exec(v.trim()) : null
  if (!m) throw new Error(`want a size like 500MB or 50GiB, got ${JSON.stringify(v)}`)
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()])
}

const RATE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB|bit|Kbit|Mbit|Gbit)?(?:\/s)?$/i
const RATE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
  bit: 1 / 8, kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8,
}

/**
 * A rate in bytes per second: `100MB/s`, `10MiB/s`, `800Mbit`, `1Gbit/s`; a
 * bare number is bytes per second. Bits only with `bit`, so `Mb` cannot be
 * read as either. Zero is refused: it would stop every transfer.
 */
export function parseRate(v: unknown): number {
  const text = typeof v === 'number' ? String(v) : v
  const m = typeof text === 'string' ? RATE_RE.exec(text.trim()) : null
  const n = m ? Math.round(Number(m[1]) * RATE_UNITS[(m[2] ?? 'b').toLowerCase()]) : NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`want a rate like 100MB/s, 800Mbit or 1Gbit/s (at least 1 byte/s), got ${JSON.stringify(v)}`)
  return n
}

/** A share of some maximum (`85%`) or a size (`40GiB`). */
import type { Watermark } from '../lib/cache/policy.js'

export type { Watermark }

export function parseWatermark(v: unknown): Watermark {
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*%$/.exec(v.trim()) : null
  if (m) {
    const percent = Number(m[1])
    if (percent <= 0 || percent > 100) throw new Error(`want a percentage above 0 and at most 100, got ${JSON.stringify(v)}`)
    return { percent }
  }
  try {
    return { bytes: parseBytes(v) }
  } catch {
    throw new Error(`want a percentage of --cache-max-bytes like 85% or a size like 40GiB, got ${JSON.stringify(v)}`)
  }
}

/** A watermark in bytes, or undefined when it is a share of a maximum that is not set. */
