// The layout's rules, checked on the sources: every file of lib/ sits in a
// part's folder, each folder imports only the folders the table below (and
// docs/architecture.md) lets it, and no two folders import each other.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..', '..')

/** What each folder may import; a folder not named here may import anything (tests, benchmarks, the CLI). */
const ALLOWED: Record<string, readonly string[]> = {
  'lib/core': [],
  'lib/http': ['lib/core'],
  'lib/store': ['lib/core'],
  'lib/cache': ['lib/core', 'lib/http', 'lib/store'],
  'lib/swarm/webtorrent': ['lib/core'],
  'lib/swarm': ['lib/core', 'lib/store', 'lib/swarm/webtorrent'],
  'lib/registry': ['lib/core', 'lib/http'],
  'lib/auth': ['lib/core', 'lib/http'],
  'lib/protocol': ['lib/core', 'lib/http', 'lib/swarm'],
  'lib/metrics': ['lib/core', 'lib/cache'],
  config: ['lib/core', 'lib/auth', 'lib/cache', 'lib/registry'],
  webhooks: ['lib/core'],
  sidecar: ['lib/core', 'lib/http', 'lib/store', 'lib/cache', 'lib/swarm', 'lib/registry', 'lib/auth', 'lib/protocol', 'lib/metrics', 'config', 'webhooks'],
  plugin: ['lib/core', 'lib/http', 'lib/store', 'lib/cache', 'lib/swarm', 'lib/registry', 'lib/auth', 'lib/protocol', 'lib/metrics', 'config'],
  configure: ['lib/core'],
  status: [],
}

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...tsFiles(rel))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

/** The folder of the table a file belongs to: the longest match. */
function folderOf(file: string): string {
  const dir = path.dirname(file)
  return Object.keys(ALLOWED).filter((f) => dir === f || dir.startsWith(`${f}/`)).sort((a, b) => b.length - a.length)[0] ?? dir.split('/')[0]
}

/** Files a source imports, as repo paths of their .ts sources. */
function importsOf(file: string): string[] {
  const src = fs.readFileSync(path.join(root, file), 'utf8')
  const out: string[] = []
  for (const m of src.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(path.normalize(path.join(path.dirname(file), m[1])).replace(/\.js$/, '.ts'))
  }
  return out
}

const sources = ['lib', 'config', 'webhooks', 'sidecar', 'plugin', 'configure', 'status'].flatMap(tsFiles)

describe('layout', () => {
  it('every file of lib/ is in a part\'s folder', () => {
    const flat = fs.readdirSync(path.join(root, 'lib')).filter((n) => fs.statSync(path.join(root, 'lib', n)).isFile())
    assert.deepEqual(flat, [])
    for (const f of sources.filter((s) => s.startsWith('lib/'))) assert.ok(ALLOWED[folderOf(f)], `${f} is in a folder the layout does not name`)
  })

  it('each folder imports only the folders below it', () => {
    const wrong: string[] = []
    for (const f of sources) {
      const from = folderOf(f)
      for (const target of importsOf(f)) {
        const to = folderOf(target)
        if (to !== from && !ALLOWED[from].includes(to)) wrong.push(`${f} imports ${target} (${from} may not import ${to})`)
      }
    }
    assert.deepEqual(wrong, [])
  })

  it('no two folders import each other, directly or around a circle', () => {
    const edges = new Map<string, Set<string>>()
    for (const f of sources) {
      for (const t of importsOf(f)) {
        const [a, b] = [folderOf(f), folderOf(t)]
        if (a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b))
      }
    }
    const cycle = findCycle(edges)
    assert.equal(cycle, undefined, `import circle: ${cycle?.join(' → ')}`)
  })

  it('every error on the wire goes through AppError and the one error middleware', () => {
    // A handler that writes its own 4xx/5xx or error body would bypass the codes docs/endpoints.md lists.
    const own = /\.status\(\s*[45]\d\d|writeHead\(\s*[45]\d\d|errorBody\(|errors:\s*\[\s*\{/
    const offenders = sources.filter((f) => f !== 'lib/http/middleware.ts' && f !== 'lib/core/errors.ts' && own.test(fs.readFileSync(path.join(root, f), 'utf8')))
    assert.deepEqual(offenders, [])
  })

  it('a rule against a folder importing one above it would catch it', () => {
    // The check above is only as good as folderOf and importsOf: one known upward import must be flagged.
    assert.equal(folderOf('lib/swarm/webtorrent/wire-parser.ts'), 'lib/swarm/webtorrent')
    assert.equal(folderOf('lib/swarm/swarm.ts'), 'lib/swarm')
    assert.ok(!ALLOWED['lib/core'].includes(folderOf('lib/cache/open.ts')))
    assert.ok(importsOf('sidecar/run.ts').includes('sidecar/server.ts'))
  })
})

function findCycle(edges: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n]
    state.set(n, 'open')
    stack.push(n)
    for (const m of edges.get(n) ?? []) {
      const c = visit(m)
      if (c) return c
    }
    stack.pop()
    state.set(n, 'done')
    return undefined
  }
  for (const n of edges.keys()) {
    const c = visit(n)
    if (c) return c
  }
  return undefined
}
