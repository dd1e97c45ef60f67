import path from 'node:path'

/** Joins parts under root and refuses any result that would land outside it. */
export function safeJoin(root: string, ...parts: string[]): string {
  const base = path.resolve(root)
  const full = path.resolve(base, ...parts)
  // Through path.relative, so a root of `/` works too (its children do not start with `//`).
  const rel = path.relative(base, full)
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new Error(`path ${JSON.stringify(parts.join('/'))} escapes ${base}`)
  }
  return full
}
