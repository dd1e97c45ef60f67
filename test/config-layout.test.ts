import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// Read from the sources: type-only imports are gone from dist/, and a circle
// of them is what grew before.
const configDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config')

// Imports and re-exports (type-only ones included), side-effect and dynamic imports.
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

/** Each config/ file and the config/ files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of fs.readdirSync(configDir).filter((f) => f.endsWith('.ts')).sort()) {
    const source = fs.readFileSync(path.join(configDir, file), 'utf8')
    const local: string[] = []
    for (const m of source.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3]
      if (spec.startsWith('./')) local.push(spec.slice(2).replace(/\.js$/, '.ts'))
    }
    graph.set(file, local)
  }
  return graph
}

/** The first circle found, as the files around it, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const done = new Set<string>()
  const stack: string[] = []
  const visit = (file: string): string[] | undefined => {
    const at = stack.indexOf(file)
    if (at >= 0) return [...stack.slice(at), file]
    if (done.has(file)) return undefined
    stack.push(file)
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next)
      if (cycle) return cycle
    }
    stack.pop()
    done.add(file)
    return undefined
  }
  for (const file of graph.keys()) {
    const cycle = visit(file)
    if (cycle) return cycle
  }
  return undefined
}

describe('config layout', () => {
  it('finds the imports of the config files', () => {
    const graph = importGraph()
    assert.ok(graph.get('load.ts')?.includes('schema.ts'), 'load.ts imports schema.ts')
    assert.ok(graph.get('index.ts')?.includes('spec.ts'), 'index.ts re-exports spec.ts')
    for (const [file, imports] of graph) for (const i of imports) assert.ok(graph.has(i), `${file} imports ${i}, which exists`)
  })

  it('has no import circle among the config files', () => {
    const cycle = findCycle(importGraph())
    assert.equal(cycle, undefined, `import circle: ${cycle?.join(' → ')}`)
  })

  it('keeps the option and problem types in a file that imports no other config file', () => {
    assert.deepEqual(importGraph().get('spec.ts'), [])
  })

  it('would report a circle', () => {
    const graph = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', []]])
    assert.deepEqual(findCycle(graph), ['a.ts', 'b.ts', 'c.ts', 'a.ts'])
    assert.equal(findCycle(new Map([['a.ts', ['b.ts']], ['b.ts', []]])), undefined)
  })
})
