import path from 'node:path'

/** Joins parts under root and refuses any result that would land outside it. */
export function safeJoin(root: string, ...parts: string[]): string {
  const base = path.resolve(root)
  const full = path.resolve(base, ...parts)
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new Error(`path ${JSON.stringify(parts.join('/'))} escapes ${base}`)
  }
  return full
}
