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
